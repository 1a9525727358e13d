rule import_annotations:
    input:
        label_files,
    output:
        train=f"{DATASET}/train.json",
        val=f"{DATASET}/val.json",
        images=directory(f"{DATASET}/images"),
    log:
        LOGS["import"],
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("import_annotations"),
    params:
        identities=cohort_identities,
        val_fraction=config["annotations"]["val_fraction"],
    script:
        "../scripts/import_annotations.py"
