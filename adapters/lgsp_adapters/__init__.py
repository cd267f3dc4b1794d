"""The mock agency systems of the demo province, plugged into the bus as
adapters (entry point group ``lgsp.adapters``): the provincial land database,
the one-stop-shop, its sync to the national public service portal, and the
NDXP connector, through which the national population database and the
portal are reached on the simulated NDXP (:mod:`lgsp_adapters.ndxp`). They
use only ``lgsp``'s public API and the contracts.
"""
