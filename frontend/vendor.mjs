// Copy vendored browser files from node_modules into ../static/vendor/, versioned by file name.
import { copyFileSync, readFileSync } from "node:fs";

const htmx = JSON.parse(readFileSync("node_modules/htmx.org/package.json", "utf8")).version;
copyFileSync("node_modules/htmx.org/dist/htmx.min.js", `../static/vendor/htmx-${htmx}.min.js`);
console.log(`static/vendor/htmx-${htmx}.min.js`);
