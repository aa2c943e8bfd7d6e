"""The Textual console — the only package in Virtuoso that imports textual.

app.py (VirtuosoApp, run_app), model.py (the bus collector), render.py (prebuilt rich Text),
widgets.py, screens.py, keys.py (bindings as data), themes.py (themes/*.tcss), palette.py
(command palette), prism_view.py (the prism's DIV tables). Nothing is imported here, so importing the
package is free until the console is actually started.
"""
