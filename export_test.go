package ngbak

// SetMaxManifestSize lowers the bound on manifests for a test, which would
// otherwise need hundreds of thousands of files to reach it.
func SetMaxManifestSize(n int) (restore func()) {
	old := maxManifestSize
	maxManifestSize = n
	return func() { maxManifestSize = old }
}
