//go:build amd64 && !race

#include "textflag.h"

// func storeRelease(addr *int64, v int64)
//
// A plain MOV: on amd64 a store is never reordered with the loads and
// stores before it, so it publishes them (release), and unlike the XCHG
// of sync/atomic's Store it does not wait for the store buffer to drain.
TEXT ·storeRelease(SB),NOSPLIT,$0-16
	MOVQ addr+0(FP), AX
	MOVQ v+8(FP), CX
	MOVQ CX, (AX)
	RET

// func storeRelease32(addr *int32, v int32)
TEXT ·storeRelease32(SB),NOSPLIT,$0-12
	MOVQ addr+0(FP), AX
	MOVL v+8(FP), CX
	MOVL CX, (AX)
	RET
