package ngbak

import "time"

// SetMaxManifestSize lowers the bound on manifests for a test, which would
// otherwise need hundreds of thousands of files to reach it.
func SetMaxManifestSize(n int) (restore func()) {
	old := maxManifestSize
	maxManifestSize = n
	return func() { maxManifestSize = old }
}

// SetLeaseTimes shortens how often leases are renewed and when one not
// renewed expires, for a test of a Create that outlives the expiry.
func SetLeaseTimes(refresh, expiry time.Duration) (restore func()) {
	oldR, oldE := leaseRefresh, leaseExpiry
	leaseRefresh, leaseExpiry = refresh, expiry
	return func() { leaseRefresh, leaseExpiry = oldR, oldE }
}
