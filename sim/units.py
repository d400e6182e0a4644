"""Unit conversions: the one place where they live.

Every formula in ``sim`` converts with these named constants, never with a bare factor.
"""

MM_PER_CM = 10.0
CM_PER_MM = 0.1
UM_PER_MM = 1000.0
MM_PER_UM = 1e-3
CM2_PER_MM2 = 0.01
MM2_PER_CM2 = 100.0
KEV_PER_MEV = 1000.0
J_PER_KEV = 1.602176634e-16  # CODATA 2018 exact elementary charge x 1e3
G_PER_KG = 1000.0
UGY_PER_GY = 1e6
MGY_PER_GY = 1e3
NGY_PER_UGY = 1e3
UGY_PER_MGY = 1e3
S_PER_MIN = 60.0
MS_PER_S = 1000.0
W_PER_KW = 1000.0  # kV x mA = W
J_PER_KJ = 1000.0
MG_PER_G = 1000.0
ML_PER_CM3 = 1.0
