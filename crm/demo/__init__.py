"""The demo shop behind `manage.py generate_demo`.

world.py simulates the shop and its hidden churn process; texts.py (with grammar.py and
catalogue.py) writes the customers' and agents' English; writer.py stores the observable
facts; truth.py writes and reads the hidden ground truth file; generate.py ties them up.
"""
