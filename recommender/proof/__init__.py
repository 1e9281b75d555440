"""Proving recommendations work: ids on responses, impressions per response, attribution.

README, "Proving it works: recommendation ids and attribution", says what the shop sends back.
"""
