// Swagger UI on the service's own OpenAPI document. Authorize with your
// API key (it stays in this browser's local storage until you log out of
// the dialog), then "Try it out" calls this server.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  displayRequestDuration: true,
  tryItOutEnabled: false,
  validatorUrl: null, // no calls to a third party
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
