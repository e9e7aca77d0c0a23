// The app page of tests/connect_atom.rs: the snippet from Dialpad's connector page, unchanged,
// bundled by connect_atom.mjs with esbuild. Where it talks to comes from the environment, as in
// a Next.js app: NEXT_PUBLIC_MORPH_CLOUD_API_BASE_URL (read by @runmorph/cloud) and
// NEXT_PUBLIC_MORPH_PUBLIC_KEY (read by <Morph.Provider> when no config is given), both
// replaced at build time. The session token comes from the app's backend; here, the query.
import { createRoot } from "react-dom/client";
import { Morph, Connect } from "@runmorph/atoms";

const sessionToken = new URLSearchParams(window.location.search).get("session");

// Not part of the snippet: records what the OAuth result page posts to its opener, so the test
// can check the message (the atom itself does not listen for one).
window.dpcMessages = [];
window.addEventListener("message", (e) => window.dpcMessages.push({ origin: e.origin, data: e.data }));

createRoot(document.getElementById("root")).render(
  <Morph.Provider>
    <Connect sessionToken={sessionToken} />
  </Morph.Provider>,
);
