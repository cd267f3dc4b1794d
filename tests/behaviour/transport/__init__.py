"""The transports: what every engine promises (:mod:`.base`, run on each
engine by its module) and what only one of them does."""
