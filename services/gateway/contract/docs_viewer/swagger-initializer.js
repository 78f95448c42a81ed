// Swagger UI over this gateway's own /openapi.json. Everything it loads comes from this
// origin, so the docs work offline: the validator badge (validator.swagger.io) is off and
// no ?url= or ?configUrl= in the address can point it at another document.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    queryConfigEnabled: false,
    deepLinking: true,
    filter: true,
    displayOperationId: true,
    displayRequestDuration: true,
    // A pasted token lives in this page only (not in localStorage).
    persistAuthorization: false,
    onComplete: () => {
      document.body.dataset.ready = "true";
    },
  });
});
