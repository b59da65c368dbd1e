package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/metropolis/csc/eventstore/sqlite"
)

// tinySizes keep a full run of every measurement within a few seconds, even under -race. Their
// figures mean nothing; the tests check that every row is measured and reported, never a time.
func tinySizes() benchSizes {
	return benchSizes{
		Fsync: 10, Bracket: 5, Rounds: 2,
		Appends: []benchLoad{{Writers: 1, N: 10}, {Writers: 64, N: 128}},
		Engine:  []benchLoad{{Writers: 1, N: 12}, {Writers: 64, N: 128}},
		History: 400,
		HTTP:    benchHTTPLoad{Clients: 8, Time: time.Second, SmallHistory: 50},
	}
}

// TestBenchRunsEveryMeasurement runs every measurement for real (SQLite files in a temp folder) with
// tiny sizes and checks that each expected row has a figure and shows up in the report.
func TestBenchRunsEveryMeasurement(t *testing.T) {
	dir := t.TempDir()
	cfg := benchConfig{out: "-", dir: dir, args: []string{"--dir", dir}}
	var progress bytes.Buffer
	rep, err := runBenchmarks(context.Background(), cfg, tinySizes(), t.TempDir(), &progress)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, progress.String())
	}

	want := []string{"fsync"}
	for _, drv := range sqlite.Drivers() {
		want = append(want, "appends/"+drv+"/1", "appends/"+drv+"/64", "appends-ceiling/"+drv+"/64")
	}
	for _, drv := range sqlite.Drivers() {
		want = append(want, "engine/"+drv+"/1", "engine/"+drv+"/64")
	}
	// The raw figures: every other row has its own baseline.
	raw := []string{"fsync", "http/50/query", "http/50/query-model"}
	for _, drv := range sqlite.Drivers() {
		want = append(want, "rebuild/"+drv+"/scan", "rebuild/"+drv+"/rebuild", "rebuild/"+drv+"/memory")
		raw = append(raw, "rebuild/"+drv+"/scan")
	}
	want = append(want, "memory/export", "memory/copy")
	for _, h := range []string{"50", "400"} {
		want = append(want, "http/"+h+"/commands", "http/"+h+"/p50", "http/"+h+"/p99")
	}
	want = append(want, "http/50/query", "http/400/query", "http/50/query-model", "http/400/query-model")
	var got []string
	for _, r := range rep.Rows {
		got = append(got, r.Key)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("row keys (-want +got):\n%s", diff)
	}

	var md bytes.Buffer
	renderReport(&md, rep)
	report := md.String()
	for _, r := range rep.Rows {
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("row %s: figure %v, want a positive finite rate", r.Key, r.Value)
		}
		if r.Name == "" || r.Unit == "" || r.Sample == "" {
			t.Errorf("row %s: name %q, unit %q, sample %q: want all set", r.Key, r.Name, r.Unit, r.Sample)
		}
		isRaw := slices.Contains(raw, r.Key)
		if x, ok := r.ratio(); ok == isRaw || (ok && !(x > 0)) || math.IsInf(x, 0) {
			t.Errorf("row %s: ratio %v, %v", r.Key, x, ok)
		}
		// The bulk commands' memory is measured once: a peak heap is not noise that rounds would smooth.
		once := strings.HasPrefix(r.Key, "memory/")
		if !isRaw && !once && len(r.Ratios) != tinySizes().Rounds || once && len(r.Ratios) != 1 {
			t.Errorf("row %s: %d rounds, want %d", r.Key, len(r.Ratios), tinySizes().Rounds)
		}
		drv := r.Driver
		if drv == "" {
			drv = "—"
		}
		line := fmt.Sprintf("| %s | %s | %s %s | %s |", r.Name, drv, benchFigure(r.Value), r.Unit, r.Sample)
		if !strings.Contains(report, line) {
			t.Errorf("report lacks the row %q:\n%s", line, report)
		}
		if !strings.Contains(progress.String(), r.summary()) {
			t.Errorf("progress lacks %q:\n%s", r.summary(), progress.String())
		}
	}
	for _, s := range []string{
		"logical CPUs (nproc)", rep.Machine.GoVersion, "synchronous=FULL", "`csc bench --dir " + dir + "`",
		"modernc.org/sqlite", "github.com/mattn/go-sqlite3", "≥ 10.0×", "**engine**", "median of 2 rounds",
		"**rebuild**", "**http**", "| ≥ 0.70× |", "raw scan, ", "read models' heap, ", "one fsync, ",
		"| ≤ 1 ms |", "| ≤ 1.25×; ≤ 1 ms |", "p99 at 50 events, ",
		"HTTP commands, 8 clients, 400 events of history", "progress query p99 on the read model during the load, 400 events of history",
	} {
		if !strings.Contains(report, s) {
			t.Errorf("report lacks %q:\n%s", s, report)
		}
	}
	if !strings.Contains(progress.String(), ", round 2/2: ") {
		t.Errorf("progress does not report the rounds:\n%s", progress.String())
	}
	// The scratch folder is removed after the run; only what the caller's folder held remains.
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("scratch files left in %s: %v", dir, left)
	}
}

// TestRunBenchCommandLine drives the command as the CLI does, with the fsync measurement only.
func TestRunBenchCommandLine(t *testing.T) {
	tests := []struct {
		name      string
		args      func(dir string) []string
		wantErr   string // "" for success
		wantFile  bool   // the report is written to dir/BENCH.md
		wantStdio string // stdout contains this
	}{
		{
			name: "report to a file",
			args: func(dir string) []string {
				return []string{"--quick", "--only", "fsync", "--dir", dir, "--out", filepath.Join(dir, "BENCH.md")}
			},
			wantFile:  true,
			wantStdio: "wrote ",
		},
		{
			name:      "report to stdout",
			args:      func(dir string) []string { return []string{"--quick", "--only=fsync", "--dir", dir, "--out", "-"} },
			wantStdio: "| raw fsync (write + fsync loop) | — |",
		},
		{
			name: "unknown measurement",
			args: func(dir string) []string {
				return []string{"--only", "fsync,nope", "--dir", dir, "--out", filepath.Join(dir, "BENCH.md")}
			},
			wantErr: `unknown measurement "nope"`,
		},
		{
			name: "stray argument",
			args: func(dir string) []string {
				return []string{"--dir", dir, "--out", filepath.Join(dir, "BENCH.md"), "extra"}
			},
			wantErr: "unexpected arguments",
		},
		{
			name:    "unknown flag",
			args:    func(dir string) []string { return []string{"--fast", "--out", filepath.Join(dir, "BENCH.md")} },
			wantErr: "flag provided but not defined",
		},
		{
			name: "scratch parent missing",
			args: func(dir string) []string {
				return []string{"--only", "fsync", "--dir", filepath.Join(dir, "nope"), "--out", filepath.Join(dir, "BENCH.md")}
			},
			wantErr: "scratch folder",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			err := runBench(context.Background(), tt.args(dir), &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("err = %v\nstderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdio) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdio, stdout.String())
			}
			b, err := os.ReadFile(filepath.Join(dir, "BENCH.md"))
			switch {
			case tt.wantFile && err != nil:
				t.Fatalf("report not written: %v", err)
			case tt.wantFile && !strings.Contains(string(b), "| raw fsync (write + fsync loop) | — |"):
				t.Errorf("report lacks the fsync row:\n%s", b)
			case !tt.wantFile && err == nil:
				t.Errorf("report written although it should not be:\n%s", b)
			}
		})
	}
}

func TestSelectBenchMeasurements(t *testing.T) {
	all := []benchMeasurement{{name: "a"}, {name: "b"}, {name: "c"}}
	tests := []struct {
		only    []string
		want    []string
		wantErr bool
	}{
		{only: nil, want: []string{"a", "b", "c"}},
		{only: []string{"c"}, want: []string{"c"}},
		{only: []string{"c", "a", "a"}, want: []string{"a", "c"}},
		{only: []string{"a", "zzz"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.only, ","), func(t *testing.T) {
			got, err := selectBenchMeasurements(all, tt.only)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.name)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestVsFsyncPicksMedianRound measures made-up figures three orders of magnitude apart against the
// real fsync loop: whatever the disk does between rounds, the middle figure is the median round.
func TestVsFsyncPicksMedianRound(t *testing.T) {
	env := benchEnv{dir: t.TempDir(), sizes: benchSizes{Bracket: 3, Rounds: 3}}
	figures := []float64{1e9, 1e3, 1e6}
	round := 0
	row := benchRow{Name: "made up", Unit: "ops/s"}
	err := env.vsFsync(&row, func() (float64, error) {
		round++
		return figures[round-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if round != 3 || row.Value != 1e6 || len(row.Ratios) != 3 {
		t.Fatalf("rounds %d, value %v, ratios %v: want 3 rounds and the 1e6 round", round, row.Value, row.Ratios)
	}
	if row.Base == nil || !(row.Base.Value > 0) || row.Base.Name != fsyncBaseName {
		t.Fatalf("base %+v: want a measured fsync rate", row.Base)
	}
	if x, _ := row.ratio(); x != slices.Sorted(slices.Values(row.Ratios))[1] {
		t.Errorf("ratio %v is not the median of %v", x, row.Ratios)
	}

	failing := errors.New("measurement failed")
	if err := env.vsFsync(&benchRow{}, func() (float64, error) { return 0, failing }); !errors.Is(err, failing) {
		t.Errorf("err = %v, want the measurement's error", err)
	}
}

// TestSetMedianRound picks the round with the median ratio, whatever the order of the rounds, and
// keeps the base's name, unit and timing.
func TestSetMedianRound(t *testing.T) {
	tests := []struct {
		name       string
		rounds     []benchRound
		wantValue  float64
		wantBase   float64
		wantRatios []float64
	}{
		{name: "one round", rounds: []benchRound{{value: 3, base: 2}}, wantValue: 3, wantBase: 2, wantRatios: []float64{1.5}},
		// The largest value is not the median ratio: its base is large too.
		{name: "three rounds", rounds: []benchRound{{value: 9, base: 9}, {value: 4, base: 1}, {value: 4, base: 2}},
			wantValue: 4, wantBase: 2, wantRatios: []float64{1, 4, 2}},
		{name: "even count takes the lower", rounds: []benchRound{{value: 1, base: 1}, {value: 3, base: 1}},
			wantValue: 1, wantBase: 1, wantRatios: []float64{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var row benchRow
			row.setMedianRound(tt.rounds, benchBase{Name: "raw scan", Unit: "rows/s", When: "just before it"})
			want := &benchBase{Name: "raw scan", Value: tt.wantBase, Unit: "rows/s", When: "just before it"}
			if row.Value != tt.wantValue || !cmp.Equal(row.Base, want) || !cmp.Equal(row.Ratios, tt.wantRatios) {
				t.Errorf("value %v, base %+v, ratios %v; want %v, %+v, %v", row.Value, row.Base, row.Ratios, tt.wantValue, want, tt.wantRatios)
			}
		})
	}
	if got := benchMedian([]float64{5, 1, 3}); got != 3 {
		t.Errorf("median of 5, 1, 3 = %v", got)
	}
}

// TestRenderReportRatiosAndGoals renders fixed figures: ratios are computed against the named row
// and goals are judged on them.
func TestRenderReportRatiosAndGoals(t *testing.T) {
	fsync := func(v float64) *benchBase { return &benchBase{Name: "raw fsync", Value: v, Unit: "fsync/s"} }
	rep := benchReport{
		Command:   "csc bench --out BENCHMARKS.md",
		Date:      time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC),
		Machine:   machineInfo{CPUModel: "Test CPU", CPUs: 2, GOMAXPROCS: 2, MemTotal: 8 << 30, OS: "linux", Arch: "amd64", GoVersion: "go1.26.8"},
		Scratch:   scratchInfo{Parent: "/tmp", Why: "test"},
		LoadStart: "3.10 2.00 1.50", LoadEnd: "4.00 2.50 1.60",
		Rows: []benchRow{
			{Key: "fsync", Name: "raw fsync", Value: 2000, Unit: "fsync/s", Sample: "4,000 fsyncs"},
			{Key: "x", Name: "fast", Driver: "modernc", Value: 25000, Unit: "appends/s", Sample: "n", Base: fsync(2000), Ratios: []float64{11, 12.5, 14}, Goal: 10},
			{Key: "y", Name: "slow", Driver: "mattn", Value: 15000, Unit: "appends/s", Sample: "n", Base: fsync(2000), Ratios: []float64{7.5}, Goal: 10},
			{Key: "z", Name: "plain", Value: 1234.4, Unit: "commands/s", Sample: "n", Base: fsync(2000)},
			{Key: "w", Name: "orphan", Value: 5, Unit: "x/s", Sample: "n", Goal: 2},
			{Key: "a", Name: "rate", Value: 12000, Unit: "commands/s", Sample: "n", Base: fsync(2000), AtLeast: 10000},
			// The round with the median ratio has 10,134/s, but the median of the rounds is 9,860/s.
			{Key: "a3", Name: "rate in rounds", Value: 10134, Unit: "commands/s", Sample: "n", Base: fsync(6450), AtLeast: 10000,
				Ratios: []float64{1.49, 1.71, 1.57}, Values: []float64{9535, 9860, 10134}},
			{Key: "b", Name: "latency", Value: 30, Unit: "ms", Sample: "n", Base: &benchBase{Name: "one fsync", Value: 0.5, Unit: "ms"}, AtMost: 25},
			{Key: "c", Name: "query", Value: 0.8, Unit: "ms", Sample: "n", AtMost: 1,
				Base: &benchBase{Name: "p99 at 1,000 events", Value: 0.5, Unit: "ms", When: "just before it"}, Ratios: []float64{1.6, 1.2}, GoalMax: 1.25},
			{Key: "d", Name: "bare query", Value: 0.5, Unit: "ms", Sample: "n", AtMost: 1, GoalMax: 2},
		},
	}
	var b bytes.Buffer
	renderReport(&b, rep)
	for _, line := range []string{
		"**The machine was busy** (load average 4.00 on 2 CPUs)",
		"| raw fsync | — | 2,000 fsync/s | 4,000 fsyncs | — | — | — | — |",
		"| fast | modernc | 25,000 appends/s | n | raw fsync, 2,000 fsync/s around it | 12.5× (median of 3 rounds: 11.0×–14.0×) | ≥ 10.0× | yes |",
		"| slow | mattn | 15,000 appends/s | n | raw fsync, 2,000 fsync/s around it | 7.50× | ≥ 10.0× | **no** |",
		"| plain | — | 1,234 commands/s | n | raw fsync, 2,000 fsync/s around it | 0.62× | — | — |",
		"| orphan | — | 5 x/s | n | — | — | ≥ 2.00× | unknown |",
		"| CPU | Test CPU, 2 logical CPUs (nproc), GOMAXPROCS 2 |",
		"| Memory | 8.0 GiB |",
		"| Load average (1, 5, 15 min) | 3.10 2.00 1.50 at the start, 4.00 2.50 1.60 at the end |",
		"Written by `csc bench --out BENCHMARKS.md` on 2026-11-28 20:00 UTC.",
		"- fast (modernc): 12.5× raw fsync (median of 3 rounds: 11.0×–14.0×), goal ≥ 10.0×: met\n",
		"- slow (mattn): 7.50× raw fsync, goal ≥ 10.0×: **not met**\n",
		"- orphan: goal ≥ 2.00×, but no baseline was measured\n",
		"| rate | — | 12,000 commands/s | n | raw fsync, 2,000 fsync/s around it | 6.00× | ≥ 10,000 commands/s | yes |",
		"- rate: 12,000 commands/s, goal ≥ 10,000 commands/s: met\n",
		"| rate in rounds | — | 10,134 commands/s | n | raw fsync, 6,450 fsync/s around it | 1.57× (median of 3 rounds: 1.49×–1.71×) | ≥ 10,000 commands/s | **no** |",
		"- rate in rounds: 9,860 commands/s (median of 3 rounds: 9,535–10,134), goal ≥ 10,000 commands/s: **not met**\n",
		"| latency | — | 30 ms | n | one fsync, 0.5 ms around it | 60.0× | ≤ 25 ms | **no** |",
		"- latency: 30 ms, goal ≤ 25 ms: **not met**\n",
		// Ratio 1.6 against the goal ≤ 1.25×: one goal missed makes the row miss.
		"| query | — | 0.8 ms | n | p99 at 1,000 events, 0.5 ms just before it | 1.60× (median of 2 rounds: 1.20×–1.60×) | ≤ 1.25×; ≤ 1 ms | **no** |",
		"- query: 1.60× p99 at 1,000 events (median of 2 rounds: 1.20×–1.60×), goal ≤ 1.25×: **not met**; 0.8 ms, goal ≤ 1 ms: met\n",
		"| bare query | — | 0.5 ms | n | — | — | ≤ 2.00×; ≤ 1 ms | unknown |",
		"- bare query: goal ≤ 2.00×, but no baseline was measured; 0.5 ms, goal ≤ 1 ms: met\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, b.String())
		}
	}

	rep.LoadStart, rep.LoadEnd = "1.90 1.00 1.00", "0.50 1.00 1.00"
	b.Reset()
	renderReport(&b, rep)
	if strings.Contains(b.String(), "busy") {
		t.Errorf("a load below the CPU count is reported as busy:\n%s", b.String())
	}
}

func TestBenchNumbers(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{benchFigure(0.5), "0.5"},
		{benchFigure(99.94), "99.9"},
		{benchFigure(100), "100"},
		{benchFigure(1234567.6), "1,234,568"},
		{benchRatioText(0.123), "0.12×"},
		{benchRatioText(12.345), "12.3×"},
		{benchRatioText(1234), "1,234×"},
		{benchCount(1, "writer", "writers"), "1 writer"},
		{benchCount(64, "writer", "writers"), "64 writers"},
		{benchCount(200000, "append", "appends"), "200,000 appends"},
		{benchThousands("-1000"), "-1,000"},
		{benchThousands("999"), "999"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestMachineParsing(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantCPU  string
		wantMem  uint64
		wantOS   string
		wantLoad string
	}{
		{
			name: "x86",
			files: map[string]string{
				"/proc/cpuinfo":              "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n",
				"/proc/meminfo":              "MemTotal:       24684092 kB\nMemFree:         1000 kB\n",
				"/proc/sys/kernel/osrelease": "6.1.0\n",
				"/proc/loadavg":              "0.52 0.58 0.59 1/467 12345\n",
			},
			wantCPU: "AMD EPYC", wantMem: 24684092 * 1024, wantOS: "kernel 6.1.0", wantLoad: "0.52 0.58 0.59",
		},
		{
			name:    "arm",
			files:   map[string]string{"/proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 48.00\n\nHardware\t: BCM2835\n"},
			wantCPU: "BCM2835",
		},
		{name: "no /proc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readFile := func(path string) ([]byte, error) {
				if s, ok := tt.files[path]; ok {
					return []byte(s), nil
				}
				return nil, os.ErrNotExist
			}
			m := readMachine(readFile)
			if got := loadAverage(readFile); got != tt.wantLoad {
				t.Errorf("load average %q, want %q", got, tt.wantLoad)
			}
			if m.CPUModel != tt.wantCPU || m.MemTotal != tt.wantMem {
				t.Errorf("cpu %q mem %d, want %q %d", m.CPUModel, m.MemTotal, tt.wantCPU, tt.wantMem)
			}
			if tt.wantOS != "" && "kernel "+m.Kernel != tt.wantOS {
				t.Errorf("kernel %q, want %q", m.Kernel, tt.wantOS)
			}
			if m.CPUs < 1 || m.GoVersion == "" {
				t.Errorf("cpus %d, go %q: want them from the runtime", m.CPUs, m.GoVersion)
			}
		})
	}
}

const testMountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw
40 22 0:40 / /tmp rw,nosuid shared:9 - tmpfs tmpfs rw
41 22 254:16 / /mnt/data\040disk rw,relatime - xfs /dev/vdb rw
42 41 254:16 /sub /mnt/data\040disk/bind rw - xfs /dev/vdb rw
bad line
`

func TestParseMountinfo(t *testing.T) {
	mounts := parseMountinfo([]byte(testMountinfo))
	want := []mountEntry{
		{Dev: "254:0", Point: "/", FSType: "ext4", Source: "/dev/vda"},
		{Dev: "0:21", Point: "/proc", FSType: "proc", Source: "proc"},
		{Dev: "0:40", Point: "/tmp", FSType: "tmpfs", Source: "tmpfs"},
		{Dev: "254:16", Point: "/mnt/data disk", FSType: "xfs", Source: "/dev/vdb"},
		{Dev: "254:16", Point: "/mnt/data disk/bind", FSType: "xfs", Source: "/dev/vdb"},
	}
	if diff := cmp.Diff(want, mounts); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for path, point := range map[string]string{
		"/":                       "/",
		"/tmp":                    "/tmp",
		"/tmpfoo/x":               "/",
		"/tmp/x/y":                "/tmp",
		"/mnt/data disk/bind/a":   "/mnt/data disk/bind",
		"/mnt/data disk/other":    "/mnt/data disk",
		"/work/main/.bench-tmp/x": "/",
	} {
		m, ok := mountOf(mounts, path)
		if !ok || m.Point != point {
			t.Errorf("mountOf(%q) = %q, %v; want %q", path, m.Point, ok, point)
		}
	}
}

// TestChooseScratch checks where the scratch folder goes. The mount tables are made up (the test
// cannot mount filesystems); the folders are real.
func TestChooseScratch(t *testing.T) {
	root := t.TempDir()
	wd := filepath.Join(root, "repo")
	tmp := filepath.Join(root, "tmp")
	other := filepath.Join(root, "other")
	for _, d := range []string{wd, tmp, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Mount points must match the resolved paths (t.TempDir may sit behind a symlink).
	real := func(p string) string {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rootDisk := mountEntry{Dev: "8:0", Point: "/", FSType: "ext4", Source: "/dev/sda"}
	tmpfs := mountEntry{Dev: "0:40", Point: real(tmp), FSType: "tmpfs", Source: "tmpfs"}
	tests := []struct {
		name       string
		dir        string
		mounts     []mountEntry
		wantParent string
		wantIgnore bool // wd/.bench-tmp/.gitignore written
		wantMount  mountEntry
	}{
		{name: "temp on the same disk", mounts: []mountEntry{rootDisk}, wantParent: tmp, wantMount: rootDisk},
		{name: "temp on another disk", mounts: []mountEntry{rootDisk, tmpfs}, wantParent: filepath.Join(wd, benchTmpDir), wantIgnore: true, wantMount: rootDisk},
		{name: "--dir wins", dir: other, mounts: []mountEntry{rootDisk, tmpfs}, wantParent: other, wantMount: rootDisk},
		{name: "no mount table", mounts: nil, wantParent: tmp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(wd, benchTmpDir))
			s, err := chooseScratch(tt.dir, tmp, wd, tt.mounts)
			if err != nil {
				t.Fatal(err)
			}
			if s.Parent != tt.wantParent || s.Mount != tt.wantMount || s.Why == "" {
				t.Errorf("got parent %q mount %+v why %q; want %q %+v", s.Parent, s.Mount, s.Why, tt.wantParent, tt.wantMount)
			}
			ignore, err := os.ReadFile(filepath.Join(wd, benchTmpDir, ".gitignore"))
			if got := err == nil; got != tt.wantIgnore {
				t.Fatalf(".gitignore written: %v, want %v", got, tt.wantIgnore)
			}
			if tt.wantIgnore && !slices.Contains(strings.Split(string(ignore), "\n"), "*") {
				t.Errorf(".gitignore does not ignore everything:\n%s", ignore)
			}
		})
	}
}

// TestBenchKeepsNotes checks that a run rewrites the generated report and keeps the part of the file
// from keptNotesHeading on, and that a file without that heading is replaced whole.
func TestBenchKeepsNotes(t *testing.T) {
	for _, tt := range []struct {
		name, old string
		keep      string // "" when nothing is kept
	}{
		{"notes kept", "# Benchmarks\n\nold generated figure 42\n\n" + keptNotesHeading + "\n\nSoak: 0 errors.\n", keptNotesHeading + "\n\nSoak: 0 errors.\n"},
		{"no notes", "# Benchmarks\n\nold generated figure 42\n## Further figures\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "BENCH.md")
			if err := os.WriteFile(out, []byte(tt.old), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if err := runBench(context.Background(), []string{"--quick", "--only", "fsync", "--dir", dir, "--out", out}, &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if strings.Contains(got, "old generated figure 42") {
				t.Errorf("the old generated part survived:\n%s", got)
			}
			if !strings.Contains(got, "| raw fsync (write + fsync loop) | — |") {
				t.Errorf("no new figures:\n%s", got)
			}
			if tt.keep != "" && !strings.HasSuffix(got, "\n\n"+tt.keep) {
				t.Errorf("want the file to end with the kept notes %q, got:\n%s", tt.keep, got)
			}
			if tt.keep == "" && strings.Contains(got, "## Further figures") {
				t.Errorf("a heading that is not the kept-notes one was kept:\n%s", got)
			}
		})
	}
}
