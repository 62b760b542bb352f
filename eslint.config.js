// ESLint (flat config) for the browser modules in static/js and their node tests in tests/js.
// Formatting is Prettier's (.prettierrc.json); this only looks for mistakes.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "static/dist/", "static/vendor/", "staticfiles/", ".venv/", "artifacts/"] },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.browser } },
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js", "build.mjs"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.node } },
  },
  {
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none" }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
];
