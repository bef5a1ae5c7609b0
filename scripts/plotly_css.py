"""Write plotly.js's own global style rules to a stylesheet, so plotly needs no inline <style> element.

plotly.js adds its rules (modebar, hover labels, notifier…) with insertRule into a <style> element it
creates, which a Content-Security-Policy without 'unsafe-inline' refuses. When the page already has an
element with id "plotly.js-style-global" and class "no-inline-styles", plotly skips that; charts.js adds
such a <link> to the file written here before it loads plotly.min.js.

    python scripts/plotly_css.py static/vendor/plotly/plotly.min.js static/vendor/plotly/plotly.css
"""

import re
import sys
from pathlib import Path

# The rules object in the bundle: {"X,X div":'direction:ltr;…', …, Y:'…', "Y p":"…", …}, where X and Y
# stand for the plot and notifier selectors (plotly's src/css/_*.scss, compiled into build/plotcss.js).
RULES_OBJECT = re.compile(r'=\{("X,X div":.*?)\};for\(')
STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''
PAIR = re.compile(rf"({STRING}|[A-Za-z_]\w*)\s*:\s*({STRING})\s*,?")


def plotly_css(bundle: str) -> str:
    found = RULES_OBJECT.search(bundle)
    if not found:
        raise SystemExit("plotly's style rules were not found in the bundle")
    lines = ["/* plotly.js global style rules, extracted from plotly.min.js by scripts/plotly_css.py. */"]
    for key, value in PAIR.findall(found.group(1)):
        selector = key.strip("\"'")
        selector = re.sub(r"^,", " ,", selector).replace("X", ".js-plotly-plot .plotly")
        selector = selector.replace("Y", ".plotly-notifier")
        lines.append(f"{selector}{{{value[1:-1]}}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    Path(target).write_text(plotly_css(Path(source).read_text(encoding="utf-8")), encoding="utf-8")
