# Exports of the model tracks (config `exports`): a rule per format, a job per model x video.
rule export_mot:
    input:
        unpack(export_inputs),
    output:
        "results/exports/{model}/{video}.mot.txt",
    log:
        "logs/export/{model}/{video}.mot.log",
    wildcard_constraints:
        model=_one_of(MODELS),
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("export_mot"),
    params:
        fmt="mot",
        identities=video_identities,
    script:
        "../scripts/export_tracks.py"


rule export_annolid:
    input:
        unpack(export_inputs),
    output:
        "results/exports/{model}/{video}.annolid.csv",
    log:
        "logs/export/{model}/{video}.annolid.log",
    wildcard_constraints:
        model=_one_of(MODELS),
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("export_annolid"),
    params:
        fmt="annolid",
        identities=video_identities,
    script:
        "../scripts/export_tracks.py"


rule export_pose:
    input:
        unpack(export_inputs),
    output:
        "results/exports/{model}/{video}.pose.h5",
    log:
        "logs/export/{model}/{video}.pose.log",
    wildcard_constraints:
        model=_one_of(MODELS),
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("export_pose"),
    params:
        fmt="pose",
        identities=video_identities,
    script:
        "../scripts/export_tracks.py"
