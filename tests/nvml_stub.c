/* A stand-in libnvidia-ml.so for tests without a GPU (tests/test_nvml_binding.py).
 *
 * It exports the NVML calls probes/gpu.py makes, with nvml.h's prototypes and struct layouts
 * written out below, and answers them from a table the test fills through stub_set() with a
 * real recording (a fixtures/nvml JSON file). The C compiler lays the structs out, so the ctypes
 * layouts of probes/_nvml.py and pynvml are both checked against C, not against each other.
 *
 * Table keys: (call, gpu, arg). gpu is the device index, -1 for system calls. arg encodes the
 * call's extra arguments: the clock type, sensor or link; errorType * 10 + counterType for
 * nvmlDeviceGetTotalEccErrors; the peer's index for the topology call and
 * peer * 10 + caps index for nvmlDeviceGetP2PStatus; the process slot for "process".
 */
#include <string.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN 999

/* nvml.h structs. */
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
#define nvmlMemory_v2 ((unsigned int)(sizeof(nvmlMemory_v2_t) | (2 << 24)))
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef struct { int index; } stub_device;
typedef stub_device *nvmlDevice_t;

#define MAX_GPUS 16
#define MAX_ENTRIES 4096
typedef struct {
    char call[64];
    int gpu, arg, code;
    unsigned long long v[4];
    char s[128];
} entry;

static entry table[MAX_ENTRIES];
static int entries;
static stub_device devices[MAX_GPUS];
static int init_code, initialized;

/* --- what the test calls ------------------------------------------------------------------ */

int stub_reset(int nvml_init_code) {
    entries = 0;
    initialized = 0;
    init_code = nvml_init_code;
    for (int i = 0; i < MAX_GPUS; i++) devices[i].index = i;
    return 0;
}

int stub_set(const char *call, int gpu, int arg, int code, unsigned long long v0,
             unsigned long long v1, unsigned long long v2, unsigned long long v3, const char *s) {
    if (entries == MAX_ENTRIES || strlen(call) >= sizeof table[0].call) return -1;
    entry *e = &table[entries++];
    strcpy(e->call, call);
    e->gpu = gpu; e->arg = arg; e->code = code;
    e->v[0] = v0; e->v[1] = v1; e->v[2] = v2; e->v[3] = v3;
    e->s[0] = 0;
    if (s) { strncpy(e->s, s, sizeof e->s - 1); e->s[sizeof e->s - 1] = 0; }
    return 0;
}

int stub_initialized(void) { return initialized; }

/* --- lookup -------------------------------------------------------------------------------- */

static nvmlReturn_t find(const char *call, int gpu, int arg, entry **out) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    for (int i = 0; i < entries; i++) {
        if (table[i].gpu == gpu && table[i].arg == arg && strcmp(table[i].call, call) == 0) {
            *out = &table[i];
            return table[i].code;
        }
    }
    return NVML_ERROR_UNKNOWN;  /* not in the recording */
}

static int gpu_of(nvmlDevice_t d) { return d ? d->index : -2; }

static nvmlReturn_t text(const char *call, int gpu, char *buf, unsigned int length) {
    entry *e;
    nvmlReturn_t r = find(call, gpu, 0, &e);
    if (r) return r;
    if (!buf) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(e->s) >= length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(buf, e->s);
    return NVML_SUCCESS;
}

static nvmlReturn_t uint_value(const char *call, int gpu, int arg, unsigned int *out) {
    entry *e;
    nvmlReturn_t r = find(call, gpu, arg, &e);
    if (r) return r;
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    *out = (unsigned int)e->v[0];
    return NVML_SUCCESS;
}

static nvmlReturn_t uint_pair(const char *call, nvmlDevice_t d, unsigned int *a, unsigned int *b) {
    entry *e;
    nvmlReturn_t r = find(call, gpu_of(d), 0, &e);
    if (r) return r;
    if (!a || !b) return NVML_ERROR_INVALID_ARGUMENT;
    *a = (unsigned int)e->v[0];
    *b = (unsigned int)e->v[1];
    return NVML_SUCCESS;
}

/* --- NVML ---------------------------------------------------------------------------------- */

nvmlReturn_t nvmlInit_v2(void) {
    if (init_code) return init_code;
    initialized = 1;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { (void)flags; return nvmlInit_v2(); }
nvmlReturn_t nvmlShutdown(void) {
    if (!initialized) return NVML_ERROR_UNINITIALIZED;
    initialized = 0;
    return NVML_SUCCESS;
}
const char *nvmlErrorString(nvmlReturn_t result) { (void)result; return "stub error"; }

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    return text("nvmlSystemGetDriverVersion", -1, version, length);
}
nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    return text("nvmlSystemGetNVMLVersion", -1, version, length);
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion) {
    return uint_value("nvmlSystemGetCudaDriverVersion", -1, 0, (unsigned int *)cudaDriverVersion);
}
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
    return uint_value("nvmlDeviceGetCount_v2", -1, 0, deviceCount);
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    unsigned int count;
    nvmlReturn_t r = nvmlDeviceGetCount_v2(&count);
    if (r) return r;
    if (index >= count || index >= MAX_GPUS || !device) return NVML_ERROR_INVALID_ARGUMENT;
    entry *e;
    r = find("nvmlDeviceGetHandleByIndex_v2", (int)index, 0, &e);
    if (r && r != NVML_ERROR_UNKNOWN) return r;  /* an injected failure */
    *device = &devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    return text("nvmlDeviceGetName", gpu_of(d), name, length);
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    return text("nvmlDeviceGetUUID", gpu_of(d), uuid, length);
}
nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t d, char *serial, unsigned int length) {
    return text("nvmlDeviceGetSerial", gpu_of(d), serial, length);
}
nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t d, char *version, unsigned int length) {
    return text("nvmlDeviceGetVbiosVersion", gpu_of(d), version, length);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci) {
    entry *e;
    nvmlReturn_t r = find("nvmlDeviceGetPciInfo_v3", gpu_of(d), 0, &e);
    if (r) return r;
    if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    strncpy(pci->busId, e->s, sizeof pci->busId - 1);
    pci->domain = (unsigned int)e->v[0];
    pci->bus = (unsigned int)e->v[1];
    pci->device = (unsigned int)e->v[2];
    pci->pciDeviceId = (unsigned int)e->v[3];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *memory) {
    entry *e;
    nvmlReturn_t r = find("nvmlDeviceGetMemoryInfo", gpu_of(d), 0, &e);
    if (r) return r;
    if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = e->v[0];
    memory->free = e->v[1];
    memory->used = e->v[2];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *memory) {
    entry *e;
    nvmlReturn_t r = find("nvmlDeviceGetMemoryInfo_v2", gpu_of(d), 0, &e);
    if (r) return r;
    if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memory->total = e->v[0];
    memory->reserved = e->v[1];
    memory->free = e->v[2];
    memory->used = e->v[3];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
    return uint_pair("nvmlDeviceGetCudaComputeCapability", d, (unsigned int *)major,
                     (unsigned int *)minor);
}
nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t d, unsigned int *arch) {
    return uint_value("nvmlDeviceGetArchitecture", gpu_of(d), 0, arch);
}
nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t d, unsigned int *gen) {
    return uint_value("nvmlDeviceGetCurrPcieLinkGeneration", gpu_of(d), 0, gen);
}
nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t d, unsigned int *gen) {
    return uint_value("nvmlDeviceGetMaxPcieLinkGeneration", gpu_of(d), 0, gen);
}
nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t d, unsigned int *width) {
    return uint_value("nvmlDeviceGetCurrPcieLinkWidth", gpu_of(d), 0, width);
}
nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t d, unsigned int *width) {
    return uint_value("nvmlDeviceGetMaxPcieLinkWidth", gpu_of(d), 0, width);
}
nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t d, unsigned int *bits) {
    return uint_value("nvmlDeviceGetMemoryBusWidth", gpu_of(d), 0, bits);
}
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, int type, unsigned int *clock) {
    return uint_value("nvmlDeviceGetMaxClockInfo", gpu_of(d), type, clock);
}
nvmlReturn_t nvmlDeviceGetNumGpuCores(nvmlDevice_t d, unsigned int *cores) {
    return uint_value("nvmlDeviceGetNumGpuCores", gpu_of(d), 0, cores);
}
nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t d, unsigned int link, unsigned int *isActive) {
    return uint_value("nvmlDeviceGetNvLinkState", gpu_of(d), (int)link, isActive);
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    return uint_pair("nvmlDeviceGetMigMode", d, current, pending);
}
nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    return uint_pair("nvmlDeviceGetEccMode", d, current, pending);
}
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int errorType, int counterType,
                                         unsigned long long *count) {
    entry *e;
    nvmlReturn_t r = find("nvmlDeviceGetTotalEccErrors", gpu_of(d), errorType * 10 + counterType, &e);
    if (r) return r;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = e->v[0];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t d, unsigned int *corrected,
                                       unsigned int *uncorrected, unsigned int *pending,
                                       unsigned int *failed) {
    entry *e;
    nvmlReturn_t r = find("nvmlDeviceGetRemappedRows", gpu_of(d), 0, &e);
    if (r) return r;
    if (!corrected || !uncorrected || !pending || !failed) return NVML_ERROR_INVALID_ARGUMENT;
    *corrected = (unsigned int)e->v[0];
    *uncorrected = (unsigned int)e->v[1];
    *pending = (unsigned int)e->v[2];
    *failed = (unsigned int)e->v[3];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, unsigned int *mode) {
    return uint_value("nvmlDeviceGetPersistenceMode", gpu_of(d), 0, mode);
}
nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t d, unsigned int *mode) {
    return uint_value("nvmlDeviceGetComputeMode", gpu_of(d), 0, mode);
}
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *temp) {
    return uint_value("nvmlDeviceGetTemperature", gpu_of(d), sensor, temp);
}
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int *limit) {
    return uint_value("nvmlDeviceGetPowerManagementLimit", gpu_of(d), 0, limit);
}
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *power) {
    return uint_value("nvmlDeviceGetPowerUsage", gpu_of(d), 0, power);
}
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *reasons) {
    entry *e;
    nvmlReturn_t r = find("nvmlDeviceGetCurrentClocksEventReasons", gpu_of(d), 0, &e);
    if (r) return r;
    if (!reasons) return NVML_ERROR_INVALID_ARGUMENT;
    *reasons = e->v[0];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos) {
    entry *e;
    int gpu = gpu_of(d);
    nvmlReturn_t r = find("nvmlDeviceGetComputeRunningProcesses_v3", gpu, 0, &e);
    if (r) return r;
    if (!infoCount) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int n = (unsigned int)e->v[0];
    if (*infoCount < n || (n && !infos)) {  /* nvml.h: too small -> the count needed */
        *infoCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned int i = 0; i < n; i++) {
        entry *p;
        r = find("process", gpu, (int)i, &p);
        if (r) return r;
        infos[i].pid = (unsigned int)p->v[0];
        infos[i].usedGpuMemory = p->v[1];
        infos[i].gpuInstanceId = (unsigned int)p->v[2];
        infos[i].computeInstanceId = (unsigned int)p->v[3];
    }
    *infoCount = n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t a, nvmlDevice_t b,
                                                 unsigned int *level) {
    return uint_value("nvmlDeviceGetTopologyCommonAncestor", gpu_of(a), gpu_of(b), level);
}
nvmlReturn_t nvmlDeviceGetP2PStatus(nvmlDevice_t a, nvmlDevice_t b, int capsIndex,
                                    unsigned int *status) {
    return uint_value("nvmlDeviceGetP2PStatus", gpu_of(a), gpu_of(b) * 10 + capsIndex, status);
}
