/** `npm run build -w @gyre/web`: the web app built into packages/web/dist (build.ts). */
import { buildWeb, WEB_DIST } from "./build.ts";

await buildWeb(WEB_DIST);
console.log(`Built the web app into ${WEB_DIST}`);
