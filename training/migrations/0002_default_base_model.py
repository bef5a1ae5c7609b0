from django.db import migrations


def add_default(apps, schema_editor):
    BaseModel = apps.get_model("training", "BaseModel")
    from training.catalog import DEFAULT_BASE_MODEL_FIELDS, DEFAULT_BASE_MODEL_KEY

    BaseModel.objects.get_or_create(key=DEFAULT_BASE_MODEL_KEY, defaults=DEFAULT_BASE_MODEL_FIELDS)


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]

    operations = [migrations.RunPython(add_default, migrations.RunPython.noop)]
