// Builds the UI into the Python package (src/racesense/web/ui_dist), so that a wheel
// serves it with no Node: one esbuild pass bundles the ES modules (code-split, so the
// Pit Lane does not load the charts), names every asset by its content hash (served
// with a year-long cache), writes index.html and the service worker with those names,
// and stores a gzip and a brotli copy of each text file beside it (the server picks
// one by Accept-Encoding; a slow hotspot is where the bytes count).
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";
import { iconPng, iconSvg } from "./icons.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "racesense", "web", "ui_dist");

const hash = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 12);

async function build() {
  await rm(out, { recursive: true, force: true });
  await mkdir(join(out, "assets"), { recursive: true });
  const result = await esbuild.build({
    entryPoints: { app: join(here, "src", "main.js"), style: join(here, "src", "styles", "app.css") },
    bundle: true,
    splitting: true,
    format: "esm",
    minify: true,
    sourcemap: false,
    target: ["chrome100", "safari15"],
    outdir: join(out, "assets"),
    entryNames: "[name]-[hash]",
    chunkNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const outputs = Object.entries(result.metafile.outputs).map(([path, info]) => ({
    path: relative(out, path).split("\\").join("/"),
    entry: info.entryPoint,
    imports: info.imports.filter((i) => i.kind === "import-statement").map((i) => relative(out, i.path).split("\\").join("/")),
  }));
  // What the first page needs: the entry and what it imports statically, transitively.
  const byPath = new Map(outputs.map((o) => [o.path, o]));
  const shell = new Set();
  const visit = (path) => {
    if (shell.has(path)) return;
    shell.add(path);
    for (const next of byPath.get(path)?.imports || []) visit(next);
  };
  const script = outputs.find((o) => o.entry && o.entry.endsWith("main.js")).path;
  const style = outputs.find((o) => o.entry && o.entry.endsWith("app.css")).path;
  visit(script);
  visit(style);

  // Icons: one SVG for browsers that take it, PNGs for the install prompt and iOS.
  const icons = {};
  for (const size of [192, 512]) {
    const png = iconPng(size);
    const name = `assets/icon-${size}-${hash(png)}.png`;
    await writeFile(join(out, name), png);
    icons[size] = name;
  }
  const svg = Buffer.from(iconSvg());
  icons.svg = `assets/icon-${hash(svg)}.svg`;
  await writeFile(join(out, icons.svg), svg);

  const manifest = Buffer.from(
    JSON.stringify(
      {
        name: "Racesense",
        short_name: "Racesense",
        description: "Lap times, sectors and traces from your track day",
        start_url: "/",
        scope: "/",
        display: "standalone",
        background_color: "#0b1220",
        theme_color: "#0b1220",
        icons: [
          { src: `/${icons[192]}`, sizes: "192x192", type: "image/png", purpose: "any maskable" },
          { src: `/${icons[512]}`, sizes: "512x512", type: "image/png", purpose: "any maskable" },
          { src: `/${icons.svg}`, sizes: "any", type: "image/svg+xml" },
        ],
      },
      null,
      1,
    ),
  );
  const manifestName = `assets/manifest-${hash(manifest)}.webmanifest`;
  await writeFile(join(out, manifestName), manifest);

  const template = await readFile(join(here, "src", "index.html"), "utf8");
  const html = template
    .replaceAll("%SCRIPT%", `/${script}`)
    .replaceAll("%STYLE%", `/${style}`)
    .replaceAll("%MANIFEST%", `/${manifestName}`)
    .replaceAll("%ICON%", `/${icons.svg}`)
    .replaceAll("%APPLE_ICON%", `/${icons[192]}`);
  await writeFile(join(out, "index.html"), html);

  // The service worker caches the shell: the page, its script and style and what they
  // import, the icons and the manifest, so the app opens with no network; the lazily
  // loaded chunks (charts, trace decoding) are cached when first used.
  const files = (await readdir(join(out, "assets"))).map((f) => `/assets/${f}`);
  const version = hash(Buffer.from(files.sort().join("\n") + html));
  const precache = ["/", ...[...shell].map((p) => `/${p}`), `/${manifestName}`, `/${icons[192]}`, `/${icons.svg}`];
  const sw = (await readFile(join(here, "src", "sw.js"), "utf8"))
    .replace("%VERSION%", version)
    .replace('"%PRECACHE%"', JSON.stringify(precache));
  await writeFile(join(out, "sw.js"), sw);

  await compressAll(out);
  return { version, script, style };
}

async function compressAll(dir) {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if ((await stat(path)).isDirectory()) {
      await compressAll(path);
      continue;
    }
    if (!/\.(js|css|html|svg|webmanifest|json|txt)$/.test(name)) continue;
    const bytes = await readFile(path);
    await writeFile(`${path}.gz`, gzipSync(bytes, { level: 9 }));
    await writeFile(
      `${path}.br`,
      brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
    );
  }
}

const built = await build();
console.log(`ui built: ${built.version} (${built.script}, ${built.style})`);
