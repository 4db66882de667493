/* liblago from C on real guests: a 2-VM environment on the tiny template,
 * started, reached over SSH (exit codes, stdout, stderr checked), a file
 * copied in and back, status and spec JSON read, VM and net handles checked
 * against the status, one VM shut down through ACPI, the rest stopped, all
 * destroyed; log messages arrive through the callback. Must run inside the test namespace:
 *
 *   tests/host/run tests/c/run guest
 *
 * Usage: guest SCRATCH_DIR (an empty directory; LAGO_TEST_ROOT names the
 * test template repo and store, default /var/lib/lago-tests). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* The management net's gateway is filled in: a subnet away from the ones
 * the lease allocator hands out first. */
static const char INITFILE_FORMAT[] =
    "domains:\n"
    "  vm0:\n"
    "    memory: 256\n"
    "    vcpu: 1\n"
    "    nics: [{net: mgmt}]\n"
    "    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]\n"
    "  vm1:\n"
    "    memory: 256\n"
    "    vcpu: 1\n"
    "    nics: [{net: mgmt}]\n"
    "    disks: [{template_name: tiny, type: template, name: root, dev: vda, format: qcow2}]\n"
    "nets:\n"
    "  mgmt: {type: nat, management: true, gw: 192.168.%u.1, dhcp: {start: 100, end: 254}}\n";

#define SSH_TIMEOUT_MS 60000

struct log_counter {
    unsigned messages;
    int freed;
};

static void on_log(void *userdata, lago_log_level level, const char *target,
                   const char *message) {
    struct log_counter *counter = userdata;
    counter->messages++;
    if (level <= LAGO_LOG_LEVEL_WARN) {
        fprintf(stderr, "lago log [%d] %s: %s\n", (int)level, target, message);
    }
}

static void on_log_free(void *userdata) { ((struct log_counter *)userdata)->freed = 1; }

static void path_join(char *out, size_t size, const char *dir, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* Runs `sh -c SCRIPT` in VM and checks the exit code, stdout and stderr. */
static void check_sh(const lago_env *env, const char *vm, const char *script, int want_code,
                     const char *want_stdout, const char *want_stderr) {
    const char *argv[] = {"sh", "-c", script};
    lago_exec_result *result = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_ssh(env, vm, argv, 3, SSH_TIMEOUT_MS, &result, &err));
    if (result == NULL) {
        return;
    }
    size_t out_len = 0, err_len = 0;
    const uint8_t *out = lago_exec_result_stdout(result, &out_len);
    const uint8_t *errb = lago_exec_result_stderr(result, &err_len);
    CHECK(lago_exec_result_code(result) == want_code);
    CHECK(out_len == strlen(want_stdout) && memcmp(out, want_stdout, out_len) == 0);
    CHECK(err_len == strlen(want_stderr) && memcmp(errb, want_stderr, err_len) == 0);
    CHECK(out[out_len] == '\0'); /* usable as a C string */
    if (lago_exec_result_code(result) != want_code) {
        fprintf(stderr, "%s: '%s' exited %d, stdout '%s', stderr '%s'\n", vm, script,
                lago_exec_result_code(result), (const char *)out, (const char *)errb);
    }
    lago_exec_result_free(result);
}

/* The value of member KEY of the JSON object text OBJ when that value is an
 * object: a copy of its text (free it), NULL when there is no such member or
 * the text is not balanced. Enough for lago's compact serde_json output,
 * where the first `"KEY":` inside OBJ is the member we want. */
static char *json_object_member(const char *obj, const char *key) {
    if (obj == NULL) {
        return NULL;
    }
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":{", key);
    const char *start = strstr(obj, pattern);
    if (start == NULL) {
        return NULL;
    }
    start += strlen(pattern) - 1;
    int depth = 0, in_string = 0;
    for (const char *p = start; *p; p++) {
        if (in_string) {
            if (*p == '\\' && p[1]) {
                p++;
            } else if (*p == '"') {
                in_string = 0;
            }
        } else if (*p == '"') {
            in_string = 1;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            size_t len = (size_t)(p - start) + 1;
            char *copy = malloc(len + 1);
            if (copy) {
                memcpy(copy, start, len);
                copy[len] = '\0';
            }
            return copy;
        }
    }
    return NULL;
}

/* Whether OBJ holds `"KEY":"VALUE"`. */
static int json_has_string(const char *obj, const char *key, const char *value) {
    char pattern[256];
    snprintf(pattern, sizeof pattern, "\"%s\":\"%s\"", key, value);
    return obj != NULL && value != NULL && strstr(obj, pattern) != NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Checks the handle of VM NAME against its entry in the status JSON and
 * the spec JSON; returns the handle (free it). */
static lago_vm *check_vm_handle(const lago_env *env, const char *name, const char *status_json,
                                const char *spec_json) {
    lago_vm *vm = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_get_vm(env, name, &vm, &err));
    if (vm == NULL) {
        return NULL;
    }
    char *got_name = NULL, *ip = NULL, *state = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_name(vm, &got_name, &err));
    CHECK(got_name && strcmp(got_name, name) == 0);
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_ip(vm, &ip, &err));
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_state(vm, &state, &err));
    CHECK(state && strcmp(state, "running") == 0);
    char *vms = json_object_member(status_json, "VMs");
    char *entry = json_object_member(vms, name);
    CHECK(entry != NULL);
    CHECK(json_has_string(entry, "status", state));
    CHECK(json_has_string(entry, "ip", ip)); /* its one NIC, on mgmt */
    char *spec_vms = json_object_member(spec_json, "vms");
    char *spec = json_object_member(spec_vms, name);
    CHECK(spec != NULL && json_has_string(spec, "ip", ip));
    if (entry && !json_has_string(entry, "ip", ip)) {
        fprintf(stderr, "%s: handle says ip %s, status says %s\n", name, ip, entry);
    }
    free(spec);
    free(spec_vms);
    free(entry);
    free(vms);
    lago_string_free(got_name);
    lago_string_free(ip);
    lago_string_free(state);
    return vm;
}

static int write_file(const char *path, const unsigned char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static long read_file(const char *path, unsigned char *data, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    size_t n = fread(data, 1, size, f);
    fclose(f);
    return (long)n;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    const char *scratch = argv[1];
    const char *root = getenv("LAGO_TEST_ROOT") ? getenv("LAGO_TEST_ROOT") : "/var/lib/lago-tests";
    char workdir[512], leases[512], repo[512], store[512], local_in[512], local_out[512];
    path_join(workdir, sizeof workdir, scratch, "workdir");
    /* the lease folder every real-guest test shares */
    if (getenv("LAGO_TEST_LEASES"))
        snprintf(leases, sizeof leases, "%s", getenv("LAGO_TEST_LEASES"));
    else
        path_join(leases, sizeof leases, root, "leases");
    path_join(repo, sizeof repo, root, "repo/repo.metadata");
    path_join(store, sizeof store, root, "store");
    path_join(local_in, sizeof local_in, scratch, "payload.bin");
    path_join(local_out, sizeof local_out, scratch, "payload.back");

    struct log_counter counter = {0, 0};
    REQUIRE_OK(lago_set_log_callback(LAGO_LOG_LEVEL_INFO, on_log, &counter, on_log_free, &err));

    lago_config *config = lago_config_new();
    REQUIRE_OK(lago_config_set(config, "lago", "lease_dir", leases, &err));
    REQUIRE_OK(lago_config_set(config, "lago", "domain_type", "auto", &err));
    lago_init_options *options = NULL;
    REQUIRE_OK(lago_init_options_new(workdir, &options, &err));
    REQUIRE_OK(lago_init_options_set_template_repo(options, repo, &err));
    REQUIRE_OK(lago_init_options_set_template_store(options, store, &err));

    char initfile[sizeof INITFILE_FORMAT + 16], gateway[32];
    unsigned subnet = 240u + (unsigned)getpid() % 15u;
    snprintf(initfile, sizeof initfile, INITFILE_FORMAT, subnet);
    snprintf(gateway, sizeof gateway, "192.168.%u.1", subnet);
    const lago_env *env = NULL;
    REQUIRE_OK(lago_env_init_from_string(options, config, initfile, &env, &err));
    lago_init_options_free(options);
    lago_config_free(config); /* the env keeps its own copy */

    lago_string_list *list = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_net_names(env, &list, &err));
    CHECK(lago_string_list_len(list) == 1 && strcmp(lago_string_list_get(list, 0), "mgmt") == 0);
    lago_string_list_free(list);

    lago_string_list *started = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_start(env, NULL, 0, &started, &err));
    CHECK(lago_string_list_len(started) == 2);
    lago_string_list_free(started);
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_wait_for_ssh_all(env, NULL, 0, 0, &err));
    if (check_failures) {
        /* The guests are unusable: tear down what was made, and stop. */
        lago_env_destroy(env, NULL);
        lago_env_free(env);
        lago_set_log_callback(LAGO_LOG_LEVEL_INFO, NULL, NULL, NULL, NULL);
        return check_report("guest");
    }

    const char *vms[] = {"vm0", "vm1"};
    for (size_t i = 0; i < 2; i++) {
        char *state = NULL, *ip = NULL;
        CHECK_STATUS(LAGO_STATUS_OK, lago_env_vm_state(env, vms[i], &state, &err));
        CHECK(state && strcmp(state, "running") == 0);
        CHECK_STATUS(LAGO_STATUS_OK, lago_env_vm_ip(env, vms[i], &ip, &err));
        CHECK(ip && strncmp(ip, "192.168.", 8) == 0);
        lago_string_free(state);
        lago_string_free(ip);
        check_sh(env, vms[i], "true", 0, "", "");
        check_sh(env, vms[i], "echo hello; echo oops >&2; exit 3", 3, "hello\n", "oops\n");
    }
    /* argv words are quoted for the guest's shell. */
    const char *echo[] = {"echo", "a b", "$HOME", "it's"};
    lago_exec_result *result = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_ssh(env, "vm1", echo, 4, SSH_TIMEOUT_MS, &result, &err));
    size_t len = 0;
    const uint8_t *out = lago_exec_result_stdout(result, &len);
    CHECK(out && len == strlen("a b $HOME it's\n") && memcmp(out, "a b $HOME it's\n", len) == 0);
    lago_exec_result_free(result);

    /* A file with every byte value, in and back out. */
    static unsigned char payload[200000], back[300000];
    for (size_t i = 0; i < sizeof payload; i++) {
        payload[i] = (unsigned char)(i * 7 + i / 256);
    }
    CHECK(write_file(local_in, payload, sizeof payload) == 0);
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_copy_to(env, "vm0", local_in, "/tmp/payload.bin", &err));
    check_sh(env, "vm0", "wc -c < /tmp/payload.bin", 0, "200000\n", "");
    CHECK_STATUS(LAGO_STATUS_OK,
                 lago_env_copy_from(env, "vm0", "/tmp/payload.bin", local_out, &err));
    CHECK(read_file(local_out, back, sizeof back) == (long)sizeof payload);
    CHECK(memcmp(payload, back, sizeof payload) == 0);
    CHECK(lago_env_copy_from(env, "vm1", "/no/such/file", local_out, NULL) != LAGO_STATUS_OK);
    /* A missing guest path: NOT_FOUND, naming the VM and the path. */
    {
        lago_error *e = NULL;
        CHECK(lago_env_copy_from(env, "vm1", "/no/such/file", local_out, &e) ==
              LAGO_STATUS_NOT_FOUND);
        CHECK(e && lago_error_vm(e) && strcmp(lago_error_vm(e), "vm1") == 0);
        CHECK(e && lago_error_path(e) && strcmp(lago_error_path(e), "/no/such/file") == 0);
        CHECK(e && strstr(lago_error_message(e), "No such file or directory") != NULL);
        lago_error_free(e);
    }

    char *json = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_status_json(env, &json, &err));
    CHECK(json && strstr(json, "\"running\"") != NULL && strstr(json, "\"vm1\"") != NULL);

    /* Services: the tiny guest's busybox init has /etc/init.d (SysV
     * style), no such service and no guest agent. */
    char *provider = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_service_provider(env, "vm0", &provider, &err));
    CHECK(provider && strcmp(provider, "sysvinit") == 0);
    lago_string_free(provider);
    lago_service_state sstate = LAGO_SERVICE_STATE_ACTIVE;
    CHECK_STATUS(LAGO_STATUS_OK,
                 lago_env_service_state(env, "vm0", "lago-no-such-service", &sstate, &err));
    CHECK(sstate == LAGO_SERVICE_STATE_MISSING);
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND,
                 lago_env_service_set(env, "vm0", "lago-no-such-service", true, &err));
    bool agent = true;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_has_guest_agent(env, "vm0", &agent, &err));
    CHECK(!agent);

    /* The spec names both VMs and the net, as the init file did. */
    char *spec = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_spec_json(env, &spec, &err));
    char *spec_vms = json_object_member(spec, "vms");
    char *spec_vm0 = json_object_member(spec_vms, "vm0");
    char *spec_vm1 = json_object_member(spec_vms, "vm1");
    char *spec_nets = json_object_member(spec, "nets");
    char *spec_mgmt = json_object_member(spec_nets, "mgmt");
    CHECK(spec_vm0 && strstr(spec_vm0, "\"memory\":256"));
    CHECK(spec_vm1 && strstr(spec_vm1, "\"template_name\":\"tiny\""));
    CHECK(spec_mgmt && json_has_string(spec_mgmt, "gw", gateway));
    free(spec_vms);
    free(spec_vm0);
    free(spec_vm1);
    free(spec_nets);
    free(spec_mgmt);

    /* VM and net handles say what the status says. */
    lago_vm *vm0 = check_vm_handle(env, "vm0", json, spec);
    lago_vm *vm1 = check_vm_handle(env, "vm1", json, spec);
    lago_net *net = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_get_net(env, "mgmt", &net, &err));
    char *text = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_net_name(net, &text, &err));
    CHECK(text && strcmp(text, "mgmt") == 0);
    lago_string_free(text);
    text = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_net_gateway(net, &text, &err));
    CHECK(text && strcmp(text, gateway) == 0);
    char *nets = json_object_member(json, "Networks");
    char *mgmt = json_object_member(nets, "mgmt");
    CHECK(json_has_string(mgmt, "gateway", text));
    CHECK(json_has_string(mgmt, "status", "up"));
    CHECK(mgmt && strstr(mgmt, "\"management\":true"));
    bool management = false;
    CHECK_STATUS(LAGO_STATUS_OK, lago_net_is_management(net, &management, &err));
    CHECK(management);
    lago_string_free(text);
    free(mgmt);
    free(nets);
    lago_string_free(spec);
    lago_string_free(json);

    /* A memory snapshot of vm0: the revert resumes it where it was, with
     * no boot — the file written after it is gone and the process that ran
     * at snapshot time runs again with its PID. Unknown flags are refused. */
    const char *vm0_only[] = {"vm0"};
    check_sh(env, "vm0", "sleep 100004 </dev/null >/dev/null 2>&1 & echo $! > /root/pid", 0, "",
             "");
    CHECK_STATUS(LAGO_STATUS_INVALID_ARGUMENT,
                 lago_env_snapshot_flags(env, "m1", vm0_only, 1, 1u << 7, &err));
    CHECK_STATUS(LAGO_STATUS_OK,
                 lago_env_snapshot_flags(env, "m1", vm0_only, 1, LAGO_SNAPSHOT_MEMORY, &err));
    check_sh(env, "vm0", "echo x > /root/after && kill $(cat /root/pid)", 0, "", "");
    double t0 = now_s();
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_revert(env, "m1", vm0_only, 1, &err));
    printf("guest: revert of vm0 to its memory snapshot took %.2f s\n", now_s() - t0);
    check_sh(env, "vm0", "ls /root/after 2>/dev/null; tr '\\0' ' ' < /proc/$(cat /root/pid)/cmdline",
             0, "sleep 100004 ", "");
    char *snaps = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_snapshots_json(env, &snaps, &err));
    CHECK(snaps && strstr(snaps, "\"snapshot-kind\":\"memory\"") != NULL);
    lago_string_free(snaps);

    /* A clean shutdown of vm1 through ACPI (the tiny guest powers off on
     * it; lago falls back to `poweroff` over SSH only after half the
     * timeout): vm1 goes down, vm0 and its net stay up. */
    const char *vm1_only[] = {"vm1"};
    t0 = now_s();
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_shutdown(env, vm1_only, 1, false, 240000, &err));
    double took = now_s() - t0;
    printf("guest: ACPI shutdown of vm1 took %.1f s\n", took);
    CHECK(took < 120.0);
    char *state = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_state(vm1, &state, &err));
    CHECK(state && strcmp(state, "down") == 0);
    lago_string_free(state);
    state = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_state(vm0, &state, &err));
    CHECK(state && strcmp(state, "running") == 0);
    lago_string_free(state);
    check_sh(env, "vm0", "echo still up", 0, "still up\n", "");

    CHECK_STATUS(LAGO_STATUS_OK, lago_env_stop(env, NULL, 0, &err));
    state = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_vm_state(env, "vm0", &state, &err));
    CHECK(state && strcmp(state, "running") != 0);
    lago_string_free(state);

    CHECK_STATUS(LAGO_STATUS_OK, lago_env_destroy(env, &err));
    json = NULL;
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_status_json(env, &json, &err));
    lago_env_free(env);
    /* The handles outlived the env reference and report the destroy. */
    state = NULL;
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_vm_state(vm0, &state, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_net_gateway(net, &state, &err));
    CHECK(state == NULL && json == NULL);
    lago_vm_free(vm0);
    lago_vm_free(vm1);
    lago_net_free(net);

    CHECK(counter.messages > 0);
    CHECK_STATUS(LAGO_STATUS_OK, lago_set_log_callback(LAGO_LOG_LEVEL_INFO, NULL, NULL, NULL, &err));
    CHECK(counter.freed == 1);
    return check_report("guest");
}
