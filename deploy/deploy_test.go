// Package deploy_test checks the shipped container and Kubernetes files
// without a cluster or a Docker engine: every manifest decodes strictly into
// the Kubernetes API types, and the wiring between them (ports, probes,
// volume mounts, service accounts and RBAC, the server's config) holds.
package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/sightline/sightline/internal/config"
)

// manifests holds every object of deploy/kubernetes by kind and name.
type manifests struct {
	files        []string
	namespaces   map[string]*corev1.Namespace
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	accounts     map[string]*corev1.ServiceAccount
	statefulSets map[string]*appsv1.StatefulSet
	daemonSets   map[string]*appsv1.DaemonSet
	roles        map[string]*rbacv1.ClusterRole
	bindings     map[string]*rbacv1.ClusterRoleBinding
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{namespaces: map[string]*corev1.Namespace{}, configMaps: map[string]*corev1.ConfigMap{},
		services: map[string]*corev1.Service{}, accounts: map[string]*corev1.ServiceAccount{},
		statefulSets: map[string]*appsv1.StatefulSet{}, daemonSets: map[string]*appsv1.DaemonSet{},
		roles: map[string]*rbacv1.ClusterRole{}, bindings: map[string]*rbacv1.ClusterRoleBinding{}}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, filepath.Base(f))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSep.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := m.add([]byte(doc)); err != nil {
				t.Errorf("%s document %d: %v", f, i, err)
			}
		}
	}
	return m
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// add decodes one document strictly (unknown fields are errors) into the
// API type its apiVersion and kind name.
func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return fmt.Errorf("decode type: %w", err)
	}
	decode := func(obj any) error { return yaml.UnmarshalStrict(doc, obj) }
	var err error
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/Namespace":
		o := &corev1.Namespace{}
		err = decode(o)
		m.namespaces[o.Name] = o
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		err = decode(o)
		m.configMaps[o.Name] = o
	case "v1/Service":
		o := &corev1.Service{}
		err = decode(o)
		m.services[o.Name] = o
	case "v1/ServiceAccount":
		o := &corev1.ServiceAccount{}
		err = decode(o)
		m.accounts[o.Name] = o
	case "apps/v1/StatefulSet":
		o := &appsv1.StatefulSet{}
		err = decode(o)
		m.statefulSets[o.Name] = o
	case "apps/v1/DaemonSet":
		o := &appsv1.DaemonSet{}
		err = decode(o)
		m.daemonSets[o.Name] = o
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		o := &rbacv1.ClusterRole{}
		err = decode(o)
		m.roles[o.Name] = o
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		o := &rbacv1.ClusterRoleBinding{}
		err = decode(o)
		m.bindings[o.Name] = o
	default:
		return fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	return err
}

// flagValue returns --name=value or --name value from args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func mountAt(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == path {
			return vm, true
		}
	}
	return corev1.VolumeMount{}, false
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := load(t)
	var k struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	slices.Sort(k.Resources)
	if !slices.Equal(k.Resources, m.files) {
		t.Errorf("kustomization resources %v, manifests %v", k.Resources, m.files)
	}
}

func TestServerStatefulSet(t *testing.T) {
	m := load(t)
	ss := m.statefulSets["sightline"]
	if ss == nil {
		t.Fatal("no sightline StatefulSet")
	}
	if ss.Namespace != "sightline" || m.namespaces["sightline"] == nil {
		t.Errorf("namespace %q not declared", ss.Namespace)
	}
	pod := ss.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("containers: %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "server" {
		t.Errorf("args %v do not start the server", c.Args)
	}
	// Flags and container ports agree.
	for flagName, portName := range map[string]string{"http-addr": "http", "otlp-grpc-addr": "otlp-grpc", "otlp-http-addr": "otlp-http"} {
		v, ok := flagValue(c.Args, flagName)
		if !ok {
			t.Errorf("--%s not set", flagName)
			continue
		}
		p, ok := containerPort(c, intstr.FromString(portName))
		if !ok || v != fmt.Sprintf(":%d", p) {
			t.Errorf("--%s=%s but container port %s is %d", flagName, v, portName, p)
		}
	}
	// Probes reach the HTTP listener on /-/ready and /-/healthy.
	for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("%s probe missing or not HTTP", name)
			continue
		}
		if p, ok := containerPort(c, pr.HTTPGet.Port); !ok || p != 9800 {
			t.Errorf("%s probe port %v is not the HTTP listener", name, pr.HTTPGet.Port)
		}
		want := "/-/ready"
		if name == "liveness" {
			want = "/-/healthy"
		}
		if pr.HTTPGet.Path != want {
			t.Errorf("%s probe path %s, want %s", name, pr.HTTPGet.Path, want)
		}
	}
	// The data dir is the claimed volume.
	dataDir, _ := flagValue(c.Args, "data-dir")
	vm, ok := mountAt(c, dataDir)
	if !ok {
		t.Fatalf("--data-dir %s is not a mount", dataDir)
	}
	if len(ss.Spec.VolumeClaimTemplates) != 1 || ss.Spec.VolumeClaimTemplates[0].Name != vm.Name {
		t.Errorf("data mount %s is not the volume claim template", vm.Name)
	} else if _, ok := ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		t.Errorf("volume claim requests no storage")
	}
	// The config file is the ConfigMap, and it loads.
	cfgPath, ok := flagValue(c.Args, "config")
	if !ok {
		t.Fatal("no --config")
	}
	cvm, ok := mountAt(c, filepath.Dir(cfgPath))
	if !ok || !cvm.ReadOnly {
		t.Fatalf("config dir %s is not a read-only mount", filepath.Dir(cfgPath))
	}
	var cmName string
	for _, v := range pod.Volumes {
		if v.Name == cvm.Name && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	cm := m.configMaps[cmName]
	if cm == nil {
		t.Fatalf("config volume names ConfigMap %q, which is not shipped", cmName)
	}
	text, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", cmName, filepath.Base(cfgPath))
	}
	cfg, err := config.Load([]byte(text), nil)
	if err != nil {
		t.Fatalf("config.Load(ConfigMap %s): %v", cmName, err)
	}
	if cfg.Server.DataDir != dataDir || cfg.Server.HTTPAddr != ":9800" {
		t.Errorf("config data_dir %s / http_addr %s disagree with the flags", cfg.Server.DataDir, cfg.Server.HTTPAddr)
	}
	// Kubernetes discovery keeps targets annotated prometheus.io/scrape.
	var pods bool
	for _, sc := range cfg.Prometheus.ScrapeConfigs {
		if len(sc.ServiceDiscoveryConfigs) == 0 || sc.ServiceDiscoveryConfigs[0].Name() != "kubernetes" {
			t.Errorf("job %s does not use Kubernetes discovery", sc.JobName)
			continue
		}
		keep := false
		for _, rc := range sc.RelabelConfigs {
			if string(rc.Action) == "keep" && rc.Regex.MatchString("true") && !rc.Regex.MatchString("false") && strings.Contains(rc.SourceLabels.String(), "prometheus_io_scrape") {
				keep = true
			}
		}
		if !keep {
			t.Errorf("job %s does not keep on prometheus.io/scrape", sc.JobName)
		}
		pods = pods || sc.JobName == "kubernetes-pods"
	}
	if !pods {
		t.Error("no kubernetes-pods job")
	}
	// It runs as the account with discovery RBAC.
	checkRBAC(t, m, ss.Namespace, pod.ServiceAccountName, map[string][]string{"pods": {"get", "list", "watch"}, "endpoints": {"get", "list", "watch"}, "services": {"get", "list", "watch"}})
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil {
		t.Error("server pod should run as non-root with an fsGroup for its volume")
	}
}

func TestServerServices(t *testing.T) {
	m := load(t)
	ss := m.statefulSets["sightline"]
	if ss == nil {
		t.Fatal("no StatefulSet")
	}
	if m.services[ss.Spec.ServiceName] == nil || m.services[ss.Spec.ServiceName].Spec.ClusterIP != "None" {
		t.Errorf("serviceName %s is not a shipped headless Service", ss.Spec.ServiceName)
	}
	c := ss.Spec.Template.Spec.Containers[0]
	svc := m.services["sightline"]
	if svc == nil {
		t.Fatal("no sightline Service")
	}
	for k, v := range svc.Spec.Selector {
		if ss.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pods", k, v)
		}
	}
	want := map[string]int32{"http": 9800, "otlp-grpc": 4317, "otlp-http": 4318}
	for _, p := range svc.Spec.Ports {
		cp, ok := containerPort(c, p.TargetPort)
		if !ok || cp != want[p.Name] || p.Port != want[p.Name] {
			t.Errorf("Service port %s: %d → %v (container %d), want %d", p.Name, p.Port, p.TargetPort, cp, want[p.Name])
		}
		delete(want, p.Name)
	}
	if len(want) > 0 {
		t.Errorf("Service lacks ports %v", want)
	}
}

func TestAgentDaemonSet(t *testing.T) {
	m := load(t)
	ds := m.daemonSets["sightline-agent"]
	if ds == nil {
		t.Fatal("no sightline-agent DaemonSet")
	}
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Args[0] != "agent" {
		t.Errorf("args %v do not start the agent", c.Args)
	}
	// --path globs under a read-only hostPath mount of /var/log/pods.
	path, _ := flagValue(c.Args, "path")
	vm, ok := mountAt(c, "/var/log/pods")
	if !ok || !vm.ReadOnly || !strings.HasPrefix(path, vm.MountPath+"/") {
		t.Errorf("--path %s is not under a read-only /var/log/pods mount (%+v)", path, vm)
	}
	hostPaths := map[string]string{}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	if hostPaths[vm.Name] != "/var/log/pods" {
		t.Errorf("volume %s is not hostPath /var/log/pods: %v", vm.Name, hostPaths)
	}
	// State survives restarts on the node.
	dataDir, _ := flagValue(c.Args, "data-dir")
	if svm, ok := mountAt(c, dataDir); !ok || hostPaths[svm.Name] == "" || svm.ReadOnly {
		t.Errorf("--data-dir %s is not a writable hostPath mount", dataDir)
	}
	// It ships to the server's Service.
	server, _ := flagValue(c.Args, "server")
	if server != "http://sightline.sightline.svc:9800" || m.services["sightline"] == nil {
		t.Errorf("--server %s is not the sightline Service's HTTP port", server)
	}
	// Its metrics port is annotated for scraping.
	httpAddr, _ := flagValue(c.Args, "http-addr")
	ann := ds.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ":"+ann["prometheus.io/port"] != httpAddr {
		t.Errorf("scrape annotations %v do not match --http-addr %s", ann, httpAddr)
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the template", k, v)
		}
	}
	checkRBAC(t, m, ds.Namespace, pod.ServiceAccountName, map[string][]string{"pods": {"get", "list", "watch"}, "namespaces": {"get", "list", "watch"}})
}

// checkRBAC asserts that account exists in ns and is bound to a
// ClusterRole granting the verbs on the core resources.
func checkRBAC(t *testing.T, m *manifests, ns, account string, want map[string][]string) {
	t.Helper()
	if sa := m.accounts[account]; sa == nil || sa.Namespace != ns {
		t.Fatalf("ServiceAccount %s/%s not shipped", ns, account)
	}
	granted := map[string][]string{}
	for _, b := range m.bindings {
		bound := false
		for _, s := range b.Subjects {
			bound = bound || (s.Kind == "ServiceAccount" && s.Name == account && s.Namespace == ns)
		}
		if !bound || b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		role := m.roles[b.RoleRef.Name]
		if role == nil {
			t.Errorf("binding %s names missing ClusterRole %s", b.Name, b.RoleRef.Name)
			continue
		}
		for _, r := range role.Rules {
			if !slices.Contains(r.APIGroups, "") {
				continue
			}
			for _, res := range r.Resources {
				granted[res] = append(granted[res], r.Verbs...)
			}
		}
	}
	for res, verbs := range want {
		for _, v := range verbs {
			if !slices.Contains(granted[res], v) {
				t.Errorf("%s may not %s %s (granted %v)", account, v, res, granted[res])
			}
		}
	}
	for res, verbs := range granted {
		for _, v := range verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("%s is granted %s on %s; it only reads", account, v, res)
			}
		}
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var build string
	var exposed, copies []string
	for _, l := range strings.Split(string(bytes.ReplaceAll(b, []byte("\\\n"), nil)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		case "RUN":
			if strings.Contains(l, "go build") {
				build = l
			}
		case "COPY":
			copies = append(copies, l)
		case "EXPOSE":
			exposed = append(exposed, f[1:]...)
		}
	}
	if len(froms) < 2 {
		t.Errorf("not multi-stage: FROM %v", froms)
	}
	final := froms[len(froms)-1]
	if !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("final image %s is neither distroless static nor scratch", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/sightline", "-trimpath"} {
		if !strings.Contains(build, want) {
			t.Errorf("build step lacks %s: %s", want, build)
		}
	}
	// The web UI is built in its own stage and embedded before go build.
	uiEmbedded := false
	for _, c := range copies {
		uiEmbedded = uiEmbedded || (strings.Contains(c, "--from=ui") && strings.Contains(c, "internal/ui/dist"))
	}
	if !uiEmbedded {
		t.Error("the UI stage's output is not copied into internal/ui/dist for embedding")
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	if u := users[len(users)-1]; strings.HasPrefix(u, "0") || strings.HasPrefix(u, "root") {
		t.Errorf("final USER %s is root", u)
	}
	slices.Sort(exposed)
	if !slices.Equal(exposed, []string{"4317", "4318", "9800"}) {
		t.Errorf("EXPOSE %v, want the server's default ports", exposed)
	}
}

func TestDockerCompose(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Build   any      `yaml:"build"`
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Ports   []string `yaml:"ports"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yamlv3.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"server", "agent", "demo"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if len(s.Command) == 0 || s.Command[0] != name {
			t.Errorf("%s runs %v", name, s.Command)
		}
		for _, v := range s.Volumes {
			vol := strings.SplitN(v, ":", 2)[0]
			if _, ok := c.Volumes[vol]; !ok {
				t.Errorf("%s mounts undeclared volume %s", name, vol)
			}
		}
	}
	if c.Services["server"].Build == nil {
		t.Error("server does not build the image")
	}
	srv, _ := flagValue(c.Services["agent"].Command, "server")
	if srv != "http://server:9800" || !slices.Contains(c.Services["server"].Ports, "9800:9800") {
		t.Errorf("agent ships to %s; the server listens on %v", srv, c.Services["server"].Ports)
	}
	// The agent tails the demo's log files through the shared volume.
	path, _ := flagValue(c.Services["agent"].Command, "path")
	dataDir, _ := flagValue(c.Services["demo"].Command, "data-dir")
	shared := false
	for _, av := range c.Services["agent"].Volumes {
		for _, dv := range c.Services["demo"].Volumes {
			a, d := strings.Split(av, ":"), strings.Split(dv, ":")
			if a[0] == d[0] && d[1] == dataDir && strings.HasPrefix(path, a[1]+"/shop-logs/") {
				shared = true
			}
		}
	}
	if !shared {
		t.Errorf("agent --path %s does not reach the demo's log files", path)
	}
}
