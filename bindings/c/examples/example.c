/* A short liblago example: bring up the environment a LagoInitFile
 * describes, run a command in one VM, print its output, tear it all down.
 *
 *   cc -std=c11 example.c $(pkg-config --cflags --libs lago) -o example
 *   ./example LagoInitFile WORKDIR VM
 */
#include <stdio.h>
#include <string.h>

#include <lago.h>

/* Prints the error of a failed call, frees it, and returns 1. */
static int fail(const char *what, lago_error *err) {
    fprintf(stderr, "%s: %s\n", what, lago_error_message(err));
    lago_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], "--help") == 0) {
        printf("usage: %s LAGOINITFILE WORKDIR VM\n", argv[0]);
        return argc == 2 ? 0 : 2;
    }
    lago_error *err = NULL;
    lago_init_options *options = NULL;
    const lago_env *env = NULL;

    if (lago_init_options_new(argv[2], &options, &err) != LAGO_STATUS_OK) {
        return fail("options", err);
    }
    /* NULL config: Lago's usual configuration files and environment. */
    lago_status status = lago_env_init(options, NULL, argv[1], &env, &err);
    lago_init_options_free(options);
    if (status != LAGO_STATUS_OK) {
        return fail("init", err);
    }

    int rc = 0;
    const char *cmd[] = {"uname", "-a"};
    lago_exec_result *result = NULL;
    if (lago_env_start(env, NULL, 0, NULL, &err) != LAGO_STATUS_OK ||
        lago_env_wait_for_ssh(env, argv[3], 0, &err) != LAGO_STATUS_OK ||
        lago_env_ssh(env, argv[3], cmd, 2, 30000, &result, &err) != LAGO_STATUS_OK) {
        rc = fail("run", err);
        err = NULL;
    } else {
        lago_vm *vm = NULL;
        char *ip = NULL;
        if (lago_env_get_vm(env, argv[3], &vm, NULL) == LAGO_STATUS_OK &&
            lago_vm_ip(vm, &ip, NULL) == LAGO_STATUS_OK) {
            printf("%s is at %s\n", argv[3], ip);
        }
        lago_string_free(ip);
        lago_vm_free(vm);
        size_t len = 0;
        const uint8_t *out = lago_exec_result_stdout(result, &len);
        printf("%s exited %d: %.*s", argv[3], lago_exec_result_code(result), (int)len,
               (const char *)out);
        lago_exec_result_free(result);
    }

    if (lago_env_destroy(env, &err) != LAGO_STATUS_OK) {
        rc = fail("destroy", err);
    }
    lago_env_free(env);
    return rc;
}
