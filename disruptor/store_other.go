//go:build !amd64 || race

package disruptor

import "sync/atomic"

// storeRelease is sync/atomic's sequentially consistent store where no
// cheaper release store is written (see store_amd64.go).
func storeRelease(addr *int64, v int64) { atomic.StoreInt64(addr, v) }

func storeRelease32(addr *int32, v int32) { atomic.StoreInt32(addr, v) }
