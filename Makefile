.PHONY: demo test setup train validate
demo:            ## start the whole demo on its embedded defaults
	bin/demo
test:            ## run every test (what CI runs)
	bin/test
setup:
	bin/setup
train:
	.venv/bin/python -m bot.model train
validate:
	.venv/bin/rasa data validate --fail-on-warnings --config config.yml --domain domain.yml --data nlu stories
