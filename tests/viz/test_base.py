"""interp.viz.base: labels from runs are shown as text in plotly figures."""


def test_plot_labels_show_html_as_text():
    from interp.viz.base import plot_label

    assert plot_label('<a href="http://x">hi</a>\n') == '&lt;a href="http://x"&gt;hi&lt;/a&gt;↵'
    assert plot_label("a & b") == "a &amp; b"
