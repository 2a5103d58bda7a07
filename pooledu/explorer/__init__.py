"""The pooling explorer: every control setting, computed by the kernels, drawn interactively.

``data`` runs the kernels and checks over the whole grid of control values;
``page`` turns that data into one offline HTML page (``page.html``,
``page.css`` and ``page.js`` beside it), written by ``pooledu explore``;
``notebook`` gives the same controls as Jupyter widgets calling the kernels
live, on any array (``pooledu.explore()``).
"""
