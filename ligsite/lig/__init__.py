"""The LIG math: quadrature rules, the IG core, the three routes and ratio post-processing.

Nothing here knows a model family: routes talk to a ``Block`` (``ligsite.models.base``).
"""
