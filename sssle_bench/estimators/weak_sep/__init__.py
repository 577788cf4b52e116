"""The reference method: weakly supervised separation for SSSLE (needs the [model] extra).

Pishdadian, Wichern and Le Roux (TASLP 2020), with the multi-resolution energy
consistency, asymmetric margin and background classification of Cramer et al.
(WASPAA 2021). Trained from clip-level presence labels only.
"""
