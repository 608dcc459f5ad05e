package projection

// WarmReads exposes warmReads to the package's external tests.
var WarmReads = warmReads
