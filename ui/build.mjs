// Vendors Swagger UI from node_modules into static/vendor/swagger-ui/,
// where the Go package embeds it: run `npm ci && npm run build` in ui/
// after changing the version in package.json, and commit the result
// (go build needs no npm). Only the bundle, its stylesheet and their
// licences are kept; source-map comments are dropped (the maps are not
// vendored).
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "node_modules", "swagger-ui-dist");
const dst = join(here, "static", "vendor", "swagger-ui");
const pkg = JSON.parse(readFileSync(join(src, "package.json"), "utf8"));
const want = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).devDependencies["swagger-ui-dist"];
if (pkg.version !== want) {
  throw new Error(`node_modules has swagger-ui-dist ${pkg.version}, package.json pins ${want}: run npm ci`);
}

rmSync(dst, { recursive: true, force: true });
mkdirSync(dst, { recursive: true });
const stripMap = (text) => text.replace(/\n?\/[/*]# sourceMappingURL=\S+?(\s*\*\/)?\s*$/, "\n");
for (const f of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  writeFileSync(join(dst, f), stripMap(readFileSync(join(src, f), "utf8")));
}
for (const f of ["LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"]) {
  copyFileSync(join(src, f), join(dst, f));
}
writeFileSync(join(dst, "VERSION"), `swagger-ui-dist ${pkg.version}\n`);
console.log(`vendored swagger-ui-dist ${pkg.version} into static/vendor/swagger-ui`);
