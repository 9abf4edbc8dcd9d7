"""Active Learning Studio: ``streamlit run app.py [-- --project DIR]``.
The frame (navigation, project, sidebar status) lives in ui/chrome.py; no logic here."""
from ui.chrome import run_app

run_app()
