package main

import (
	"strconv"
	"strings"
)

// defaultGCPercent is the garbage collector's target (GOGC) when the environment sets none. csc's
// heap is mostly long-lived read models, which every collection marks again; collecting at 400 %
// growth instead of Go's 100 % cuts the CPU a rebuild of every read model spends (GOGC=200 cut it by
// 17 % against 100; 400 gave a rebuild 10-12 % more events per second than 200 in alternating
// rounds, with a peak heap about a quarter higher; BENCHMARKS.md). The soft memory limit
// (memoryLimitDivisor) bounds what that costs in memory.
const defaultGCPercent = 400

// memoryLimitDivisor: when GOMEMLIMIT is unset, csc sets the runtime's soft memory limit to the
// memory available to the process (the machine's, or its cgroup's limit when lower) divided by it,
// half: past it the collector runs more often instead of letting a large heap grow by 400 %, and
// the other half is left to the operating system's page cache, which serves the SQLite file.
const memoryLimitDivisor = 2

// gcSettings are the garbage-collector settings csc applies at start.
type gcSettings struct {
	percent     int   // for debug.SetGCPercent; 0: leave as set by GOGC
	memoryLimit int64 // for debug.SetMemoryLimit, in bytes; 0: leave as set by GOMEMLIMIT (or none)
}

// gcDefaults returns the settings for an environment (getenv) and a readFile of the machine's
// files: defaultGCPercent unless GOGC is set, and a memory limit of the available memory divided by
// memoryLimitDivisor unless GOMEMLIMIT is set or the memory is unknown.
func gcDefaults(getenv func(string) string, readFile func(string) ([]byte, error)) gcSettings {
	var s gcSettings
	if getenv("GOGC") == "" {
		s.percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		if avail := availableMemory(readFile); avail > 0 {
			s.memoryLimit = int64(min(avail/memoryLimitDivisor, 1<<62))
		}
	}
	return s
}

// availableMemory is the memory the process may use in bytes: MemTotal from /proc/meminfo, or the
// cgroup v2 limit (/sys/fs/cgroup/memory.max) when it is set and lower; 0 when neither is known.
func availableMemory(readFile func(string) ([]byte, error)) uint64 {
	var total uint64
	if b, err := readFile("/proc/meminfo"); err == nil {
		total = memTotal(b)
	}
	if b, err := readFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && limit > 0 && (total == 0 || limit < total) {
			total = limit // "max" (no limit) does not parse
		}
	}
	return total
}
