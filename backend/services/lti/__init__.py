"""LTI 1.3 Advantage, Questbridge as the tool: the platforms (LMSs) organizations register and the
RSA keys the tool signs with."""
