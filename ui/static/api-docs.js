// Renders the server's OpenAPI document with the vendored Swagger UI.
// "Try it out" calls go to this server with the console's API key (from
// session storage) as X-API-Key, when one was entered.
"use strict";
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation:", e.violatedDirective, e.blockedURI);
});
(function () {
  const key = sessionStorage.getItem("badbatch.key");
  document.getElementById("docs-key").textContent = key ? "using the console's API key" : "no API key entered";
  // The document names the default address; "Try it out" calls this
  // server, wherever it is.
  fetch("/api/v1/openapi.json", { headers: { Accept: "application/json" } })
    .then((res) => res.json())
    .then((spec) => {
      spec.servers = [{ url: location.origin, description: "this server" }];
      const ui = SwaggerUIBundle({
        spec,
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
        validatorUrl: null,
        persistAuthorization: false,
        onComplete: () => {
          if (key) ui.preauthorizeApiKey("apiKeyAuth", key);
          document.body.dataset.ready = "true";
        },
      });
      window.ui = ui;
    })
    .catch((err) => console.error("loading the OpenAPI document:", err));
})();
