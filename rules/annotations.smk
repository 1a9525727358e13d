rule import_annotations:
    input:
        label_files,
    output:
        train="results/dataset/train.json",
        val="results/dataset/val.json",
        images=directory("results/dataset/images"),
    log:
        "logs/annotations/import.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("import_annotations"),
    params:
        identities=config["identities"],
        val_fraction=config["annotations"]["val_fraction"],
    script:
        "../scripts/import_annotations.py"
