// Bundle the canvas island into ../static/canvas/, minified: canvas.js + canvas.css for the editor
// (an ES module; rarely opened panels load as chunks from chunks/ when first shown), and
// run_page.js for the run page (one classic script).
import { gzipSync } from "node:zlib";
import { readFileSync, rmSync } from "node:fs";
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const common = {
  outdir: "../static/canvas",
  bundle: true,
  minify: !process.env.NOMINIFY,
  target: ["chrome110", "firefox115", "safari16"],
  legalComments: "none",
  define: { "process.env.NODE_ENV": process.env.NOMINIFY ? '"development"' : '"production"' },
  logLevel: "info",
};
const editor = {
  ...common,
  entryPoints: { canvas: "src/canvas.tsx" },
  format: "esm",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  metafile: true,
};
const runPage = { ...common, entryPoints: { run_page: "src/runPage.ts" }, format: "iife" };

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const gz = (file) => gzipSync(readFileSync(`../static/canvas/${file}`)).length;

if (watch) {
  for (const options of [editor, runPage]) {
    const context = await esbuild.context({ ...options, minify: false, sourcemap: "inline" });
    await context.watch();
  }
} else {
  rmSync("../static/canvas/chunks", { recursive: true, force: true });
  const built = await esbuild.build(editor);
  await esbuild.build(runPage);
  for (const file of ["canvas.js", "canvas.css", "run_page.js"]) {
    const bytes = readFileSync(`../static/canvas/${file}`);
    console.log(`${file}: ${kb(bytes.length)} minified, ${kb(gzipSync(bytes).length)} gzipped`);
  }
  // What opening the editor downloads: the entry and the chunks it imports statically.
  const outputs = built.metafile.outputs;
  const entry = "../static/canvas/canvas.js";
  const eager = new Set([entry]);
  for (const file of eager) {
    for (const imported of outputs[file].imports) if (imported.kind === "import-statement") eager.add(imported.path);
  }
  const name = (path) => path.replace("../static/canvas/", "");
  const lazy = Object.keys(outputs).filter((p) => p.endsWith(".js") && !eager.has(p));
  const eagerGz = [...eager].reduce((sum, p) => sum + gz(name(p)), 0);
  console.log(`editor on open: ${kb(eagerGz)} gzipped (canvas.js and ${eager.size - 1} shared chunks)`);
  for (const p of lazy) console.log(`  lazy ${name(p)}: ${kb(gz(name(p)))} gzipped`);
}
