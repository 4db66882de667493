/* Misuse of liblago from C, without guests: NULL arguments, invalid UTF-8,
 * unknown names, bad values, calls on a destroyed env and on VM and net
 * handles that outlive it. Each must return the right status with a
 * matching lago_error, write no out-parameter, and neither crash nor leak
 * (run under ASan and valgrind by tests/c/run). Also: the structured
 * fields of errors, and an error left in *err_out (refused, kept, not
 * leaked).
 *
 * Usage: misuse WORKDIR_COPY LEASE_DIR
 *   WORKDIR_COPY: a scratch copy of lago-core's upstream-workdir fixture. */
#include "check.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s WORKDIR_COPY LEASE_DIR\n", argv[0]);
        return 2;
    }
    const char *workdir = argv[1];
    lago_config *config = lago_config_new();
    CHECK(config != NULL);
    REQUIRE_OK(lago_config_set(config, "lago", "lease_dir", argv[2], &err));
    /* No libvirt daemon is reachable there: nothing here needs one. */
    REQUIRE_OK(lago_config_set(config, "lago", "libvirt_url",
                               "qemu+unix:///system?socket=/nonexistent/lago", &err));

    /* Config. */
    char *value = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_config_get(config, NULL, "lease_dir", &value, &err));
    CHECK(value && strcmp(value, argv[2]) == 0);
    lago_string_free(value);
    value = NULL;
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_config_get(config, "init", "no_such", &value, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_config_get(NULL, NULL, "k", &value, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_config_get(config, NULL, "k", NULL, &err));
    CHECK_STATUS(LAGO_STATUS_INVALID_UTF8, lago_config_set(config, "lago", "k\xff", "v", &err));
    CHECK(value == NULL);

    /* NULL handles; a NULL err_out is allowed too. */
    lago_string_list *list = NULL;
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_vm_names(NULL, &list, &err));
    CHECK(lago_env_stop(NULL, NULL, 0, NULL) == LAGO_STATUS_NULL_ARGUMENT);
    CHECK(list == NULL);
    CHECK(lago_string_list_len(NULL) == 0);
    CHECK(lago_string_list_get(NULL, 0) == NULL);
    CHECK(lago_exec_result_code(NULL) == -1);
    CHECK(lago_error_message(NULL) == NULL);
    lago_env_free(NULL);
    lago_config_free(NULL);
    lago_string_free(NULL);
    lago_string_list_free(NULL);
    lago_exec_result_free(NULL);
    lago_error_free(NULL);
    lago_init_options_free(NULL);
    lago_vm_free(NULL);
    lago_net_free(NULL);
    lago_vm *vm = NULL;
    lago_net *net = NULL;
    char *text = NULL;
    bool flag = false;
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_get_vm(NULL, "vm0", &vm, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_get_net(NULL, "n0", &net, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_spec_json(NULL, &text, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_shutdown(NULL, NULL, 0, false, 0, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_vm_name(NULL, &text, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_vm_ip(NULL, &text, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_vm_state(NULL, &text, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_net_name(NULL, &text, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_net_gateway(NULL, &text, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_net_is_management(NULL, &flag, &err));
    CHECK(vm == NULL && net == NULL && text == NULL && !flag);

    /* Init errors. */
    lago_init_options *options = NULL;
    const lago_env *env = NULL;
    REQUIRE_OK(lago_init_options_new("/nonexistent-dir/w", &options, &err));
    CHECK_STATUS(LAGO_STATUS_CONFIG,
                 lago_env_init_from_string(options, config, "domains: [", &env, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_init(NULL, config, "x", &env, &err));
    CHECK(env == NULL);
    lago_init_options_free(options);

    /* Load errors, then a real load. */
    CHECK_STATUS(LAGO_STATUS_INVALID_UTF8, lago_env_load(config, "/tmp/\xfe", NULL, &env, &err));
    CHECK(lago_env_load(config, "/nonexistent-dir/w", NULL, &env, NULL) != LAGO_STATUS_OK);
    CHECK(env == NULL);
    REQUIRE_OK(lago_env_load(config, workdir, NULL, &env, &err));

    CHECK_STATUS(LAGO_STATUS_OK, lago_env_vm_names(env, &list, &err));
    CHECK(lago_string_list_len(list) == 2);
    CHECK(strcmp(lago_string_list_get(list, 0), "vm0") == 0);
    CHECK(lago_string_list_get(list, 2) == NULL);
    lago_string_list_free(list);
    list = NULL;

    /* Structured fields of errors. */
    {
        lago_error *err = NULL;
        char *ip0 = NULL;
        CHECK(lago_env_vm_ip(env, "nope", &ip0, &err) == LAGO_STATUS_NOT_FOUND);
        CHECK(err != NULL && ip0 == NULL);
        CHECK(lago_error_vm(err) && strcmp(lago_error_vm(err), "nope") == 0);
        CHECK(lago_error_path(err) == NULL && lago_error_key_path(err) == NULL);
        CHECK(lago_error_line(err) == 0 && lago_error_libvirt_code(err) == 0);

        /* An error already in *err_out: refused, kept, nothing done. */
        lago_error *const first = err;
        lago_string_list *names0 = NULL;
        CHECK(lago_env_vm_names(env, &names0, &err) == LAGO_STATUS_INVALID_ARGUMENT);
        CHECK(err == first && names0 == NULL);
        CHECK(lago_error_code(err) == LAGO_STATUS_NOT_FOUND);
        lago_error_free(err);
        err = NULL;

        /* libvirt cannot be reached: its code, and its message as a cause. */
        CHECK(lago_env_vm_state(env, "vm0", &ip0, &err) == LAGO_STATUS_LIBVIRT);
        CHECK(err != NULL && ip0 == NULL);
        CHECK(lago_error_libvirt_code(err) != 0);
        size_t n = lago_error_cause_count(err);
        CHECK(n >= 1);
        for (size_t i = 0; i < n; i++) {
            CHECK(lago_error_cause(err, i) != NULL && lago_error_cause(err, i)[0] != '\0');
        }
        CHECK(lago_error_cause(err, n) == NULL);
        lago_error_free(err);
        err = NULL;

        /* A mistake in a LagoInitFile: the key path and the line. */
        lago_init_options *opts = NULL;
        const lago_env *bad = NULL;
        REQUIRE_OK(lago_init_options_new("/nonexistent-dir/w2", &opts, &err));
        CHECK(lago_env_init_from_string(opts, config,
                                        "domains:\n  vm0:\n    memory: lots\n"
                                        "    nics:\n      - net: n0\n"
                                        "nets:\n  n0:\n    type: nat\n",
                                        &bad, &err) == LAGO_STATUS_CONFIG);
        CHECK(bad == NULL && err != NULL);
        CHECK(lago_error_key_path(err) &&
              strcmp(lago_error_key_path(err), "domains.vm0.memory") == 0);
        CHECK(lago_error_line(err) == 3);
        CHECK(lago_error_path(err) != NULL);
        CHECK(lago_error_cause_count(err) == 1);
        lago_error_free(err);
        lago_init_options_free(opts);

        /* Every accessor takes NULL. */
        CHECK(lago_error_vm(NULL) == NULL && lago_error_path(NULL) == NULL);
        CHECK(lago_error_key_path(NULL) == NULL && lago_error_cause(NULL, 0) == NULL);
        CHECK(lago_error_line(NULL) == 0 && lago_error_libvirt_code(NULL) == 0);
        CHECK(lago_error_cause_count(NULL) == 0);
    }

    /* Unknown VM names. */
    char *ip = NULL;
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_vm_ip(env, "nope", &ip, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_vm_state(env, "nope", &ip, &err));
    const char *names[] = {"vm0", "nope"};
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_start(env, names, 2, NULL, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_stop(env, names, 2, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_wait_for_ssh(env, "nope", 1000, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_copy_to(env, "nope", "/etc/hostname", "/tmp/x", &err));
    CHECK(ip == NULL);

    /* Bad lists and values. */
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_start(env, NULL, 1, NULL, &err));
    const char *with_null[] = {"vm0", NULL};
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_stop(env, with_null, 2, &err));
    lago_exec_result *result = NULL;
    const char *cmd[] = {"true"};
    CHECK_STATUS(LAGO_STATUS_INVALID_ARGUMENT, lago_env_ssh(env, "vm0", cmd, 1, 0, &result, &err));
    CHECK_STATUS(LAGO_STATUS_INVALID_ARGUMENT, lago_env_ssh(env, "vm0", cmd, 0, 10, &result, &err));
    CHECK_STATUS(LAGO_STATUS_INVALID_UTF8, lago_env_ssh(env, "vm\xff", cmd, 1, 10, &result, &err));
    CHECK(result == NULL);
    CHECK_STATUS(LAGO_STATUS_INVALID_ARGUMENT, lago_set_log_callback(42, NULL, NULL, NULL, &err));

    /* VM and net handles: unknown, NULL and non-UTF-8 names, NULL outs. */
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_get_vm(env, "nope", &vm, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_get_vm(env, "n0", &vm, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_get_net(env, "vm0", &net, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_get_vm(env, NULL, &vm, &err));
    CHECK_STATUS(LAGO_STATUS_INVALID_UTF8, lago_env_get_net(env, "n\xff", &net, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_get_vm(env, "vm0", NULL, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_get_net(env, "n0", NULL, &err));
    CHECK(vm == NULL && net == NULL);
    REQUIRE_OK(lago_env_get_vm(env, "vm1", &vm, &err));
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_name(vm, &text, &err));
    CHECK(text && strcmp(text, "vm1") == 0);
    lago_string_free(text);
    text = NULL;
    CHECK_STATUS(LAGO_STATUS_OK, lago_vm_ip(vm, &text, &err));
    CHECK(text && strcmp(text, "192.168.201.3") == 0);
    lago_string_free(text);
    text = NULL;
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_vm_ip(vm, NULL, &err));
    CHECK_STATUS(LAGO_STATUS_LIBVIRT, lago_vm_state(vm, &text, &err)); /* unreachable */
    REQUIRE_OK(lago_env_get_net(env, "n1", &net, &err));
    CHECK_STATUS(LAGO_STATUS_OK, lago_net_gateway(net, &text, &err));
    CHECK(text && strcmp(text, "192.168.202.1") == 0);
    lago_string_free(text);
    text = NULL;
    flag = true;
    CHECK_STATUS(LAGO_STATUS_OK, lago_net_is_management(net, &flag, &err));
    CHECK(!flag);
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_net_is_management(net, NULL, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_net_name(net, NULL, &err));

    /* Spec JSON; shutdown with bad names fails before libvirt is asked. */
    CHECK_STATUS(LAGO_STATUS_OK, lago_env_spec_json(env, &text, &err));
    CHECK(text && strstr(text, "\"vm0\":{") && strstr(text, "\"n1\":{"));
    lago_string_free(text);
    text = NULL;
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_spec_json(env, NULL, &err));
    CHECK_STATUS(LAGO_STATUS_NOT_FOUND, lago_env_shutdown(env, names, 2, false, 1000, &err));
    CHECK_STATUS(LAGO_STATUS_NULL_ARGUMENT, lago_env_shutdown(env, with_null, 2, true, 0, &err));
    const char *bad_utf8[] = {"vm\xff"};
    CHECK_STATUS(LAGO_STATUS_INVALID_UTF8, lago_env_shutdown(env, bad_utf8, 1, false, 0, &err));
    CHECK_STATUS(LAGO_STATUS_LIBVIRT, lago_env_shutdown(env, NULL, 0, false, 1000, &err));

    /* Destroy (no libvirt reachable: it still removes the prefix), then
     * every call on either reference reports LAGO_STATUS_DESTROYED. */
    const lago_env *other = lago_env_clone(env);
    CHECK(other == env);
    lago_env_destroy(env, NULL);
    char *json = NULL;
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_status_json(env, &json, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_vm_names(other, &list, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_start(other, NULL, 0, NULL, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_ssh(env, "vm0", cmd, 1, 10, &result, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_destroy(other, &err));
    CHECK(json == NULL && list == NULL && result == NULL);
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_spec_json(env, &json, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_shutdown(other, NULL, 0, false, 0, &err));
    lago_vm *vm2 = NULL;
    lago_net *net2 = NULL;
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_get_vm(env, "vm0", &vm2, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_env_get_net(other, "n0", &net2, &err));
    CHECK(json == NULL && vm2 == NULL && net2 == NULL);
    lago_env_free(other);
    lago_env_free(env);
    /* The handles outlive every env reference; they report the destroy. */
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_vm_name(vm, &text, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_vm_ip(vm, &text, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_vm_state(vm, &text, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_net_name(net, &text, &err));
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_net_gateway(net, &text, &err));
    flag = true;
    CHECK_STATUS(LAGO_STATUS_DESTROYED, lago_net_is_management(net, &flag, &err));
    CHECK(text == NULL && flag);
    lago_vm_free(vm);
    lago_net_free(net);
    lago_config_free(config);
    return check_report("misuse");
}
