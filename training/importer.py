"""A Rasa importer that adds every insurer's folder (``extensions/<insurer>/``) to the core data.

config.yml::

    importers:
      - name: training.importer.ExtensionImporter
        extensions_dir: extensions

It is Rasa's own ``RasaFileImporter`` for the paths given on the command line (``nlu``,
``stories``, ``domain.yml``), plus each extension's ``data/`` (examples, rules, stories) and
``domain/`` (intents, responses). The core files stay untouched; an insurer's change is a diff
in its own folder. Folders are found next to the config file, so a copy of the project trains
its own extensions.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Text, Union

from rasa.shared.core.domain import Domain
from rasa.shared.importers.rasa import RasaFileImporter

from training.extensions import EXTENSIONS_DIR, discover

logger = logging.getLogger(__name__)


class ExtensionImporter(RasaFileImporter):
    """``RasaFileImporter`` + the domain and data of every ``extensions/<insurer>/`` folder."""

    def __init__(
        self,
        config_file: Optional[Text] = None,
        domain_path: Optional[Text] = None,
        training_data_paths: Optional[Union[List[Text], Text]] = None,
        extensions_dir: Text = EXTENSIONS_DIR,
    ) -> None:
        project = Path(config_file).resolve().parent if config_file else Path.cwd()
        self.extensions = discover(project, extensions_dir)
        if isinstance(training_data_paths, str):
            training_data_paths = [training_data_paths]
        paths = list(training_data_paths or [])
        paths += [str(e.data_dir) for e in self.extensions if e.data_dir.is_dir()]
        super().__init__(config_file, domain_path, paths)
        logger.debug("ExtensionImporter: %s", [e.insurer for e in self.extensions])

    def get_domain(self) -> Domain:
        """The core domain merged with each extension's ``domain/`` folder."""
        domain = super().get_domain()
        if not self._domain_path:  # NLU-only runs (rasa train nlu) load no domain at all
            return domain
        for ext in self.extensions:
            if ext.domain_dir.is_dir() and any(ext.domain_dir.rglob("*.yml")):
                domain = domain.merge(Domain.load(str(ext.domain_dir)))
        return domain
