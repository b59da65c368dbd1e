package main

import (
	"io/fs"
	"testing"
)

// TestGCDefaults: csc sets GOGC=400 and a soft memory limit of half the available memory (the
// machine's, or the cgroup's limit when lower), each only when the environment does not set it.
func TestGCDefaults(t *testing.T) {
	const meminfo = "MemTotal:       24684092 kB\nMemFree:         1000 kB\n" // 23.5 GiB
	machine := uint64(24684092) * 1024
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if s, ok := m[name]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tt := range []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  gcSettings
	}{
		{"nothing set, no cgroup limit", nil,
			map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "max\n"},
			gcSettings{percent: 400, memoryLimit: int64(machine / 2)}},
		{"a cgroup limit below the machine's memory", nil,
			map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "2147483648\n"},
			gcSettings{percent: 400, memoryLimit: 1 << 30}},
		{"a cgroup limit above the machine's memory", nil,
			map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "107374182400\n"},
			gcSettings{percent: 400, memoryLimit: int64(machine / 2)}},
		{"only a cgroup limit", nil,
			map[string]string{"/sys/fs/cgroup/memory.max": "4294967296"},
			gcSettings{percent: 400, memoryLimit: 2 << 30}},
		{"memory unknown", nil, nil, gcSettings{percent: 400}},
		{"GOGC set", map[string]string{"GOGC": "100"},
			map[string]string{"/proc/meminfo": meminfo},
			gcSettings{memoryLimit: int64(machine / 2)}},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"},
			map[string]string{"/proc/meminfo": meminfo},
			gcSettings{percent: 400}},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"},
			map[string]string{"/proc/meminfo": meminfo}, gcSettings{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcDefaults(env(tt.env), files(tt.files)); got != tt.want {
				t.Errorf("gcDefaults = %+v, want %+v", got, tt.want)
			}
		})
	}
}
