from django.db import migrations


def add_default(apps, schema_editor):
    BaseModel = apps.get_model("training", "BaseModel")
    BaseModel.objects.get_or_create(
        key="smollm2-135m-instruct",
        defaults={
            "name": "SmolLM2-135M-Instruct",
            "source_type": "bundled_gguf",
            "architecture": "LlamaForCausalLM",
            "context_length": 8192,
            "is_default": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [migrations.RunPython(add_default, migrations.RunPython.noop)]
