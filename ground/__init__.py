"""The ground floor: small facts and settings every part of Tuibao shares (channels, the lock
store, the privacy stores), imported by them and importing none of them."""
