// Check Flux with InfluxData's own parser (@influxdata/flux-lsp-browser, WebAssembly).
//
// Reads a JSON array of Flux scripts on stdin; writes a JSON array with, for each script,
// {"syntax": bool, "semantic": bool, "formatted": string | null, "error": string | null,
//  "strings": [the value of every string literal, as the parser read it]}.
// syntax: is_valid_flux(); semantic: new Flux(src).is_valid() (rejects unknown functions).
//
// The package is built for bundlers: its glue module imports the .wasm file and touches the
// wasm memory at load time, so a plain `import` fails ("Cannot access 'memory' before
// initialization"). This loader instantiates the .wasm itself and hands it to the glue code.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "node_modules", "@influxdata", "flux-lsp-browser");

async function loadFlux() {
  let glue = readFileSync(join(pkg, "flux-lsp-browser_bg.js"), "utf8");
  glue = glue.replace(
    /^import \* as wasm from '\.\/flux-lsp-browser_bg\.wasm';$/m,
    "let wasm;\nexport function __kilowatchSetWasm(exports) {\n" +
      "  wasm = exports;\n" +
      "  cachedInt32Memory0 = new Int32Array(wasm.memory.buffer);\n" +
      "  cachedUint8Memory0 = new Uint8Array(wasm.memory.buffer);\n}",
  );
  glue = glue.replace(/^cached(Int32|Uint8)Memory0 = new \w+\(wasm\.memory\.buffer\);$/gm, "");
  if (!glue.includes("__kilowatchSetWasm")) {
    throw new Error("flux-lsp-browser's glue code changed: update tools/flux/check.mjs");
  }
  const dir = mkdtempSync(join(tmpdir(), "kilowatch-flux-"));
  try {
    const file = join(dir, "glue.mjs");
    writeFileSync(file, glue);
    const mod = await import(pathToFileURL(file).href);
    const bytes = readFileSync(join(pkg, "flux-lsp-browser_bg.wasm"));
    const { instance } = await WebAssembly.instantiate(bytes, { "./flux-lsp-browser_bg.js": mod });
    mod.__kilowatchSetWasm(instance.exports);
    return mod;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function firstError(node) {
  // The AST keeps parse errors on the nodes where they happened.
  if (node === null || typeof node !== "object") return null;
  if (Array.isArray(node.errors) && node.errors.length) {
    const e = node.errors[0];
    return typeof e === "string" ? e : e.msg || JSON.stringify(e);
  }
  for (const value of Object.values(node)) {
    const found = firstError(value);
    if (found) return found;
  }
  return null;
}

function stringLiterals(node, out) {
  // Every string literal's value as the parser read it: escaping can be checked against it.
  if (node === null || typeof node !== "object") return out;
  if (node.type === "StringLiteral" && typeof node.value === "string") out.push(node.value);
  for (const value of Object.values(node)) stringLiterals(value, out);
  return out;
}

const flux = await loadFlux();
const scripts = JSON.parse(readFileSync(0, "utf8"));
const results = scripts.map((src) => {
  const syntax = flux.is_valid_flux(src);
  let semantic = false;
  let formatted = null;
  let error = syntax ? null : firstError(flux.parse(src)) || "syntax error";
  const script = new flux.Flux(src);
  try {
    semantic = script.is_valid();
    if (!semantic && !error) error = "semantic check failed (unknown function or bad types)";
    if (syntax) formatted = script.format();
  } catch (err) {
    error = error || String(err);
  } finally {
    script.free();
  }
  const strings = stringLiterals(flux.parse(src), []);
  return { syntax, semantic, formatted, error, strings };
});
process.stdout.write(JSON.stringify(results));
