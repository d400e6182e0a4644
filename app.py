"""fluorosim classroom app (Streamlit): ``streamlit run app.py`` (or ``make run``).

Holds no physics: the page lives in :mod:`classroom` (controls, views, run player) and every
number comes from ``sim``.
"""

import gc

from classroom.ui import main

gc.freeze()  # start-up objects out of later collections (docs/references.md [StreamlitNotes])
main()
