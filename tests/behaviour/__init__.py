"""Behavioural tests: a whole bus in the test process (the testing kit's
``running_bus``), on both transports wherever the promise is both's."""
