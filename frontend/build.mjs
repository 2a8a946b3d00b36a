// Bundle the canvas island into ../static/canvas/ (canvas.js + canvas.css for the editor, run_page.js
// for the run page), minified.
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: { canvas: "src/canvas.tsx", run_page: "src/runPage.ts" },
  outdir: "../static/canvas",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome110", "firefox115", "safari16"],
  legalComments: "none",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "info",
};

if (watch) {
  const context = await esbuild.context({ ...options, minify: false, sourcemap: "inline" });
  await context.watch();
} else {
  await esbuild.build(options);
  for (const file of ["canvas.js", "canvas.css", "run_page.js"]) {
    const bytes = readFileSync(`../static/canvas/${file}`);
    const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
    console.log(`${file}: ${kb(bytes.length)} minified, ${kb(gzipSync(bytes).length)} gzipped`);
  }
}
