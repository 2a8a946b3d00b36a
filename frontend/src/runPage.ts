// The run page's one script (static/canvas/run_page.js): the canvas island and the run page's
// modules in a single bundle, so run_state.js and run_stream.js (which the editor's Test run
// tab shares) load once on the page. Its styles are canvas.css.
import "./main";
import "../../static/js/run_page.js";
