"""Static files in production: hashed names, compressed copies, and module imports rewritten."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's storage that also rewrites `import ... from "./x.js"` to the hashed name,
    so the page's script modules are cached as long as the page's own script."""

    support_js_module_import_aggregation = True
