"""The mock agency systems of the demo province, plugged into the bus as
adapters (entry point group ``lgsp.adapters``): the national population
database, the provincial land database, the one-stop-shop and the national
public service portal. They use only ``lgsp``'s public API and the contracts.
"""
