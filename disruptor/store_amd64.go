//go:build amd64 && !race

package disruptor

// storeRelease stores v at addr with release semantics only (a plain MOV,
// see store_amd64.s). The call is also a compiler barrier: no store before
// it moves after it. Under the race detector, which cannot see an
// assembly store, and on other architectures, it is sync/atomic's Store
// (store_other.go).
//
//go:noescape
func storeRelease(addr *int64, v int64)

// storeRelease32 is storeRelease for an int32.
//
//go:noescape
func storeRelease32(addr *int32, v int32)
