package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// prometheusConfig is the part of deploy/prometheus/prometheus.yml these tests look at.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func loadYAML(t *testing.T, file string, out any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
}

// listenPort is the port a compose service serves on inside the network: csc's CSC_ADDR, KurrentDB's HTTP port.
func listenPort(s service) (int, bool) {
	switch {
	case s.Build != nil:
		_, port, ok := strings.Cut(s.Environment["CSC_ADDR"], ":")
		p, err := strconv.Atoi(port)
		return p, ok && err == nil
	case s.isKurrentDB():
		return 2113, true
	}
	return 0, false
}

func TestPrometheusScrapesEveryServer(t *testing.T) {
	c := loadCompose(t)
	var cfg prometheusConfig
	loadYAML(t, filepath.Join(repoRoot, "deploy/prometheus/prometheus.yml"), &cfg)

	scraped := map[string]bool{}
	for _, job := range cfg.ScrapeConfigs {
		if job.MetricsPath != "" && job.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s; csc and KurrentDB serve /metrics", job.JobName, job.MetricsPath)
		}
		for _, sc := range job.StaticConfigs {
			for _, target := range sc.Targets {
				host, port, _ := strings.Cut(target, ":")
				s, ok := c.Services[host]
				if !ok {
					t.Errorf("job %s: target %s is not a compose service", job.JobName, target)
					continue
				}
				if want, ok := listenPort(s); !ok || strconv.Itoa(want) != port {
					t.Errorf("job %s: target %s, but %s listens on %d", job.JobName, target, host, want)
				}
				scraped[host] = true
			}
		}
	}
	for name, s := range c.Services {
		if _, ok := listenPort(s); ok && !scraped[name] {
			t.Errorf("%s serves metrics but Prometheus does not scrape it", name)
		}
	}
	if !slices.Contains(c.Services["prometheus"].Volumes, "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro") {
		t.Error("the prometheus service does not mount deploy/prometheus/prometheus.yml on /etc/prometheus/prometheus.yml")
	}
}

// dashboard is the part of a Grafana dashboard JSON model these tests look at.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string        `json:"name"`
			Datasource datasourceRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int           `json:"id"`
	Type       string        `json:"type"`
	Title      string        `json:"title"`
	Datasource datasourceRef `json:"datasource"`
	Targets    []struct {
		Datasource datasourceRef `json:"datasource"`
		Expr       string        `json:"expr"`
		RefID      string        `json:"refId"`
	} `json:"targets"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaMounts maps each directory or file mounted into the grafana container to its source in the repository.
func grafanaMounts(t *testing.T, c composeFile) map[string]string {
	t.Helper()
	mounts := map[string]string{}
	for _, v := range c.Services["grafana"].Volumes {
		parts := strings.Split(v, ":")
		if strings.HasPrefix(parts[0], "./") {
			mounts[parts[1]] = filepath.Join(repoRoot, parts[0])
		}
	}
	return mounts
}

// hostPath finds where a path inside the grafana container comes from in the repository.
func hostPath(mounts map[string]string, container string) (string, bool) {
	for target, source := range mounts {
		if rel, ok := strings.CutPrefix(container, target+"/"); ok {
			return filepath.Join(source, filepath.FromSlash(rel)), true
		}
		if container == target {
			return source, true
		}
	}
	return "", false
}

func loadDashboards(t *testing.T, dir string) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no dashboards in %s", dir)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = d
	}
	return out
}

func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	mounts := grafanaMounts(t, c)
	provisioning, ok := mounts["/etc/grafana/provisioning"]
	if !ok {
		t.Fatalf("grafana does not mount a provisioning folder on /etc/grafana/provisioning (mounts %v)", mounts)
	}

	var datasources struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	loadYAML(t, filepath.Join(provisioning, "datasources/prometheus.yml"), &datasources)
	if len(datasources.Datasources) != 1 {
		t.Fatalf("%d datasources, want 1", len(datasources.Datasources))
	}
	ds := datasources.Datasources[0]
	if ds.Type != "prometheus" || ds.URL != "http://prometheus:9090" {
		t.Errorf("datasource %s at %s, want prometheus at http://prometheus:9090", ds.Type, ds.URL)
	}

	var providers struct {
		Providers []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	loadYAML(t, filepath.Join(provisioning, "dashboards/csc.yml"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers %+v, want one of type file", providers.Providers)
	}
	dir, ok := hostPath(mounts, providers.Providers[0].Options.Path)
	if !ok {
		t.Fatalf("the dashboard provider reads %s, which grafana does not mount", providers.Providers[0].Options.Path)
	}
	dashboards := loadDashboards(t, dir)

	home := c.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if file, ok := hostPath(mounts, home); !ok || dashboards[file].UID == "" {
		t.Errorf("home dashboard %s is not one of the provisioned dashboards", home)
	}

	for file, d := range dashboards {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q, title %q: want both", d.UID, d.Title)
			}
			ids := map[int]bool{}
			for _, p := range d.Panels {
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				if p.Datasource.UID != ds.UID {
					t.Errorf("panel %q uses datasource %q, want the provisioned %q", p.Title, p.Datasource.UID, ds.UID)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, q := range p.Targets {
					if strings.TrimSpace(q.Expr) == "" || q.Datasource.UID != ds.UID {
						t.Errorf("panel %q query %s: expr %q on datasource %q", p.Title, q.RefID, q.Expr, q.Datasource.UID)
					}
				}
			}
			for _, v := range d.Templating.List {
				if v.Datasource.UID != ds.UID {
					t.Errorf("variable %s uses datasource %q, want %q", v.Name, v.Datasource.UID, ds.UID)
				}
			}
		})
	}
}

// The dashboard must show what the issue asks for: commands/s, appends, projection lag, HTTP p99.
func TestDashboardShowsTheAskedFigures(t *testing.T) {
	dashboards := loadDashboards(t, filepath.Join(repoRoot, "deploy/grafana/dashboards"))
	var exprs []string
	for _, d := range dashboards {
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				exprs = append(exprs, q.Expr)
			}
		}
	}
	tests := []struct {
		figure string
		expr   *regexp.Regexp
	}{
		{"commands/s", regexp.MustCompile(`rate\(csc_engine_commands_total\b`)},
		{"events appended/s", regexp.MustCompile(`rate\(csc_engine_events_appended_total\b`)},
		{"store appends/s", regexp.MustCompile(`rate\(csc_(esdb|eventstore_sqlite)_appends_total\b`)},
		{"projection lag", regexp.MustCompile(`csc_projection_lag_`)},
		{"HTTP p99", regexp.MustCompile(`histogram_quantile\(0\.99, .*csc_http_request_duration_seconds_bucket`)},
	}
	for _, tt := range tests {
		t.Run(tt.figure, func(t *testing.T) {
			if !slices.ContainsFunc(exprs, tt.expr.MatchString) {
				t.Errorf("no query matches %s", tt.expr)
			}
		})
	}
	// /v1/events/live (SSE) is timed for the stream's whole life: an HTTP latency quantile must leave it out.
	for _, e := range exprs {
		if strings.Contains(e, "histogram_quantile") && strings.Contains(e, "csc_http_request_duration_seconds") &&
			!strings.Contains(e, `route!="/v1/events/live"`) {
			t.Errorf("HTTP latency quantile includes the SSE stream: %s", e)
		}
	}
}

// metricOwners says which package defines each family of csc metrics.
var metricOwners = []struct{ prefix, dir string }{
	{"csc_engine_", "eventstore"},
	{"csc_eventstore_sqlite_", "eventstore/sqlite"},
	{"csc_eventstore_esdb_", "eventstore/esdb"},
	{"csc_projection_", "projections"},
	{"csc_http_", "http"},
}

var (
	metricName    = regexp.MustCompile(`\bcsc_[a-z0-9_]+`)
	metricLiteral = regexp.MustCompile(`"(csc_[a-z0-9_]+)"`)
)

// Every metric the dashboard plots must be defined, by its full name as a string literal, in the package that
// owns its family; while that package defines no metrics at all (not written yet), its names are skipped, and
// the test says so.
func TestDashboardMetricsAreDefined(t *testing.T) {
	dashboards := loadDashboards(t, filepath.Join(repoRoot, "deploy/grafana/dashboards"))
	used := map[string]bool{}
	for _, d := range dashboards {
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				for _, m := range metricName.FindAllString(q.Expr, -1) {
					for _, suffix := range []string{"_bucket", "_sum", "_count"} {
						m = strings.TrimSuffix(m, suffix)
					}
					used[m] = true
				}
			}
		}
	}
	if len(used) == 0 {
		t.Fatal("the dashboard uses no csc metric")
	}

	literals := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "testdata") {
			return filepath.SkipDir
		}
		if e.IsDir() || path.Ext(p) != ".go" || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range metricLiteral.FindAllStringSubmatch(string(data), -1) {
			literals[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	names := make([]string, 0, len(used))
	for m := range used {
		names = append(names, m)
	}
	slices.Sort(names)
	for _, m := range names {
		t.Run(m, func(t *testing.T) {
			if literals[m] {
				return
			}
			i := slices.IndexFunc(metricOwners, func(o struct{ prefix, dir string }) bool { return strings.HasPrefix(m, o.prefix) })
			if i < 0 {
				t.Fatalf("%s belongs to no known package (metricOwners)", m)
			}
			owner := metricOwners[i].dir
			if !definesMetrics(t, filepath.Join(repoRoot, owner)) {
				t.Skipf("%s: package %s/ defines no metrics yet", m, owner)
			}
			t.Errorf("the dashboard plots %s, but no Go file defines it (Name: %q) in the module; expected in %s/", m, m, owner)
		})
	}
}

// definesMetrics tells whether a package directory exists and has a non-test Go file that makes Prometheus
// collectors.
func definesMetrics(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "prometheus.New") {
			return true
		}
	}
	return false
}
